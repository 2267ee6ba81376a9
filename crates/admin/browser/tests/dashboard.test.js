// The dashboard's flows in real Chromium: sign in, create a product, change
// its stock inline, find it by search, ship an order placed through the API,
// bulk-disable two products, export CSV and re-import it with one edited
// price. Once at a desktop size, once at a phone's. Any console error (a CSP
// violation, a broken htmx swap, a failed request) fails the test.
//
// Started by .ci/browser, which builds and starts the server and sets
// EMPORIUM_URL, ADMIN_EMAIL, ADMIN_PASSWORD and CHROMIUM.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { chromium } from 'playwright-core';

const BASE = process.env.EMPORIUM_URL;
const ADMIN_EMAIL = process.env.ADMIN_EMAIL;
const ADMIN_PASSWORD = process.env.ADMIN_PASSWORD;
assert.ok(BASE && ADMIN_EMAIL && ADMIN_PASSWORD, 'run through .ci/browser (EMPORIUM_URL, ADMIN_EMAIL, ADMIN_PASSWORD)');

let browser;
before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    // The sandbox needs user namespaces, which CI containers running as root lack.
    args: ['--no-sandbox'],
  });
});
after(async () => {
  await browser?.close();
});

async function api(method, path, { token, body } = {}) {
  const response = await fetch(BASE + path, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await response.json();
  assert.ok(response.ok, `${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
  return json.data;
}

async function adminToken() {
  return (await api('POST', '/api/v1/users/login', { body: { email: ADMIN_EMAIL, password: ADMIN_PASSWORD } })).accessToken;
}

/** A page whose console errors and uncaught exceptions are collected. */
async function openPage(viewport) {
  const context = await browser.newContext({ viewport, acceptDownloads: true });
  const page = await context.newPage();
  const errors = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => errors.push(`page error: ${error.message}`));
  page.on('requestfailed', (request) => {
    // A download is "aborted" once handed over; that is not a failure.
    if (!request.url().includes('export.csv')) errors.push(`request failed: ${request.url()} ${request.failure()?.errorText}`);
  });
  return { context, page, errors };
}

async function flow(viewport, label) {
  const { context, page, errors } = await openPage(viewport);
  const tag = `${label}${Date.now().toString(36)}`;
  const token = await adminToken();
  try {
    // Sign in: an anonymous visit is sent to the sign-in page and back.
    await page.goto(`${BASE}/admin/products`);
    assert.match(page.url(), /\/admin\/sign-in\?next=/);
    await page.fill('input[name=login]', ADMIN_EMAIL);
    await page.fill('input[name=password]', ADMIN_PASSWORD);
    await Promise.all([page.waitForURL(/\/admin\/products$/), page.click('button:has-text("Sign in")')]);

    // Create a product through the form.
    await page.goto(`${BASE}/admin/products/new`);
    await page.fill('input[name=name]', `Teapot ${tag}`);
    await page.fill('input[name=price]', '12.50');
    await page.fill('input[name=stock]', '3');
    await page.fill('input[name=sku]', `TP-${tag}`);
    await Promise.all([page.waitForURL(/\/admin\/products\/\d+\?notice=created/), page.click('form.card button[type=submit]')]);
    await page.getByText('Created.').waitFor();
    const productId = page.url().match(/\/admin\/products\/(\d+)/)[1];

    // Find it by search: htmx swaps the results in place as one types.
    await page.goto(`${BASE}/admin/products`);
    await page.fill('input[name=search]', tag);
    const row = page.locator(`#product-${productId}`);
    await row.waitFor();
    await page.waitForURL(new RegExp(`search=${tag}`));
    assert.equal(await page.locator('table.products tbody tr').count(), 1);

    // Change its stock inline: the row is replaced, the page stays.
    await row.locator('input[name=stock]').fill('17');
    const saved = page.waitForResponse((r) => r.url().endsWith(`/admin/products/${productId}/stock`) && r.status() === 200);
    await row.locator('button:has-text("Save")').click();
    await saved;
    await page.locator(`#product-${productId} input[name=stock][value="17"]`).waitFor();
    assert.ok(!page.url().includes('notice='), 'no full page post happened');
    assert.equal((await api('GET', `/api/v1/products/${productId}`)).stock, 17);

    // An order placed through the API, shipped from its page.
    const order = await api('POST', '/api/v1/orders', {
      body: {
        items: [{ productId, quantity: 2 }],
        email: `buyer-${tag}@example.com`,
        shippingAddress: { firstName: 'Ada', lastName: 'Lovelace', address1: '1 Main St', city: 'London', postcode: 'N1 9GU', country: 'GB', phone: '+44 20 7946 0000' },
      },
    });
    await page.goto(`${BASE}/admin/orders`);
    await page.fill('input[name=q]', `buyer-${tag}`);
    await page.locator(`#order-${order._id}`).waitFor();
    await Promise.all([page.waitForURL(new RegExp(`/admin/orders/${order._id}$`)), page.click(`#order-${order._id} a`)]);
    for (const button of ['Mark paid (manual)', 'Mark processing', 'Mark shipped']) {
      await Promise.all([page.waitForURL(/notice=/), page.click(`button:has-text("${button}")`)]);
    }
    assert.equal((await page.textContent('#order-status')).trim(), 'shipped');
    assert.equal((await api('GET', `/api/v1/orders/${order._id}`, { token })).status, 'shipped');

    // Bulk-disable two products.
    const others = [];
    for (const name of ['Saucer', 'Spoon']) {
      others.push((await api('POST', '/api/v1/products', { token, body: { name: `${name} ${tag}`, price: 2, stock: 5 } }))._id);
    }
    await page.goto(`${BASE}/admin/products?search=${tag}`);
    for (const id of others) await page.check(`#product-${id} input[type=checkbox]`);
    await page.selectOption('#bulk select[name=action]', 'unavailable');
    await Promise.all([page.waitForURL(/notice=bulk/), page.click('#bulk button[type=submit]')]);
    for (const id of others) assert.equal((await api('GET', `/api/v1/products/${id}`)).available, false);
    assert.equal((await api('GET', `/api/v1/products/${productId}`)).available, true);

    // Export the list as CSV, edit one price, import it: dry run, then apply.
    await page.goto(`${BASE}/admin/products?search=${tag}`);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export')]);
    const csv = await readFile(await download.path(), 'utf8');
    const lines = csv.trim().split('\n');
    assert.equal(lines.length, 4, csv);
    const edited = csv.replace(new RegExp(`^(${productId},[^\\n]*?),12\\.50,`, 'm'), '$1,13.75,');
    assert.notEqual(edited, csv, 'the price was edited');
    await page.goto(`${BASE}/admin/products/import`);
    await page.setInputFiles('input[type=file]', { name: 'products.csv', mimeType: 'text/csv', buffer: Buffer.from(edited) });
    await Promise.all([page.waitForURL(/\/admin\/products\/import$/), page.click('button:has-text("Dry run")')]);
    assert.match(await page.textContent('#import-summary'), /0 to create, 3 to update, 0 with errors/);
    assert.equal((await api('GET', `/api/v1/products/${productId}`)).price, 12.5, 'the dry run wrote nothing');
    await Promise.all([page.waitForURL(/notice=imported/), page.click('button:has-text("Apply the import")')]);
    assert.equal((await api('GET', `/api/v1/products/${productId}`)).price, 13.75);

    // Sign out.
    await Promise.all([page.waitForURL(/\/admin\/sign-in/), page.click('.sign-out button')]);
  } finally {
    await context.close();
  }
  assert.deepEqual(errors, [], 'no console errors');
}

test('the dashboard flows at a desktop size', async () => {
  await flow({ width: 1280, height: 900 }, 'desk');
});

test('the same flows at a phone size', async () => {
  await flow({ width: 375, height: 740 }, 'phone');
});
