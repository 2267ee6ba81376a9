// How fast the admin dashboard renders under load: places N orders through
// the API, signs in to /admin, then drives a few pages at a fixed
// concurrency and prints requests/s and latency percentiles.
//
//   EMPORIUM_URL=http://127.0.0.1:3000 ADMIN_EMAIL=… ADMIN_PASSWORD=… \
//     node bench/admin-pages.mjs [orders=10000] [seconds=15] [concurrency=8]
//
// Needs a server with EMPORIUM_RATE_LIMIT=off. A measurement, not a test.

const BASE = process.env.EMPORIUM_URL;
const [orders = 10000, seconds = 15, concurrency = 8] = process.argv.slice(2).map(Number);

async function json(method, path, body, token) {
  const r = await fetch(BASE + path, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body && JSON.stringify(body),
  });
  const j = await r.json();
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(j)}`);
  return j.data;
}

const token = (await json('POST', '/api/v1/users/login', { email: process.env.ADMIN_EMAIL, password: process.env.ADMIN_PASSWORD })).accessToken;
const product = (await json('POST', '/api/v1/products', { name: 'Bench lamp', price: 10, stock: 1_000_000_000 }, token))._id;
const address = { firstName: 'Ada', lastName: 'Lovelace', address1: '1 Main St', city: 'London', postcode: 'N1 9GU', country: 'GB', phone: '+44 20 7946 0000' };
let placed = 0;
const started = Date.now();
await Promise.all(Array.from({ length: 16 }, async () => {
  while (placed < orders) {
    const i = placed++;
    await json('POST', '/api/v1/orders', { items: [{ productId: product, quantity: 1 }], email: `buyer-${i}@example.com`, shippingAddress: address });
  }
}));
console.log(`placed ${orders} orders in ${((Date.now() - started) / 1000).toFixed(1)} s`);

const signIn = await fetch(`${BASE}/admin/sign-in`, {
  method: 'POST',
  redirect: 'manual',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams({ login: process.env.ADMIN_EMAIL, password: process.env.ADMIN_PASSWORD, next: '/admin' }),
});
const cookie = signIn.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');

async function drive(path) {
  const latencies = [];
  const end = Date.now() + seconds * 1000;
  let failures = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (Date.now() < end) {
      const t = performance.now();
      const r = await fetch(BASE + path, { headers: { cookie }, redirect: 'manual' });
      await r.arrayBuffer();
      latencies.push(performance.now() - t);
      if (r.status !== 200) failures++;
    }
  }));
  latencies.sort((a, b) => a - b);
  const p = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))].toFixed(1);
  console.log(`${path.padEnd(40)} ${(latencies.length / seconds).toFixed(0).padStart(6)} req/s  p50 ${p(0.5)} ms  p99 ${p(0.99)} ms  non-200: ${failures}`);
}

for (const path of ['/admin/orders', '/admin/orders?page=200', '/admin/orders?q=buyer-4242%40example.com', '/admin/orders?q=lovelace', '/admin/orders?status=pending&from=2020-01-01', '/admin', '/admin/products', '/health']) {
  await drive(path);
}
