//! Demo data: realistic, deterministic categories and products, for demos
//! and benchmarks. The same arguments always give the same catalog.

use emporium_domain::catalog::{CategoryDraft, ProductDraft, Slug};
use emporium_domain::ids::CategoryId;
use emporium_domain::money::{Money, Percent};
use emporium_domain::time::Timestamp;
use emporium_store::{NewAuditEntry, Store, StoreError};

/// SplitMix64. Written out (ten lines) rather than taken from `rand`
/// because `rand` does not promise the same stream across versions, and the
/// benchmark's catalog must not change under a dependency upgrade.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const CATEGORIES: &[(&str, &[&str])] = &[
    ("Smartphones", &["Phone", "Smartphone", "Handset"]),
    ("Laptops", &["Laptop", "Notebook", "Ultrabook"]),
    ("Tablets", &["Tablet", "E-Reader", "Slate"]),
    ("Headphones", &["Headphones", "Earbuds", "Headset"]),
    ("Cameras", &["Camera", "Action Cam", "Lens"]),
    ("Smart Home", &["Thermostat", "Smart Plug", "Doorbell"]),
    ("Wearables", &["Smartwatch", "Fitness Band", "Ring"]),
    ("Gaming", &["Controller", "Console", "Gaming Mouse"]),
    ("Audio", &["Speaker", "Soundbar", "Turntable"]),
    ("Monitors", &["Monitor", "Display", "Screen"]),
    ("Keyboards", &["Keyboard", "Keypad", "Switch Kit"]),
    ("Storage", &["SSD", "Hard Drive", "Memory Card"]),
    ("Networking", &["Router", "Mesh Node", "Switch"]),
    ("Printers", &["Printer", "Scanner", "Label Maker"]),
    ("Drones", &["Drone", "Quadcopter", "Gimbal"]),
    ("Televisions", &["TV", "Projector", "Streaming Stick"]),
    ("Accessories", &["Charger", "Cable", "Case"]),
    ("Kitchen", &["Blender", "Coffee Maker", "Kettle"]),
    ("Fitness", &["Treadmill", "Bike Trainer", "Scale"]),
    ("Books", &["Guide", "Handbook", "Cookbook"]),
];

const BRANDS: &[&str] =
    &["Acme", "Nordic", "Zenith", "Orion", "Apex", "Lumen", "Vertex", "Helix", "Nimbus", "Quanta", "Polar", "Cobalt"];
const ADJECTIVES: &[&str] = &[
    "Wireless", "Compact", "Pro", "Ultra", "Classic", "Portable", "Smart", "Rugged", "Premium", "Slim", "Eco", "Turbo",
];
const FEATURES: &[&str] = &[
    "long battery life",
    "fast charging",
    "a brushed aluminium body",
    "noise cancelling",
    "water resistance",
    "a two-year warranty",
    "low power draw",
    "a high-resolution display",
    "Bluetooth 5.3",
    "a recycled-plastic shell",
];

pub struct SeedReport {
    pub categories: usize,
    pub products: u64,
}

/// Fills the store with `categories` categories and `products` products.
pub async fn seed(store: &dyn Store, products: usize, categories: usize) -> anyhow::Result<SeedReport> {
    let now = Timestamp::now();
    let mut category_ids: Vec<(CategoryId, usize)> = Vec::new();
    for i in 0..categories.max(1) {
        let (name, _) = CATEGORIES[i % CATEGORIES.len()];
        let name = if i < CATEGORIES.len() { name.to_string() } else { format!("{name} {}", i / CATEGORIES.len() + 1) };
        let slug = Slug::from_name(&name).map_err(anyhow::Error::msg)?;
        let id = match store.category_by_slug(slug.as_str()).await? {
            Some(existing) => existing.id,
            None => {
                let draft = CategoryDraft { name, slug, description: Some("Demo category".into()), parent_id: None };
                let audit = NewAuditEntry {
                    at: now,
                    actor_id: None,
                    action: "category.created".into(),
                    target_type: Some("category".into()),
                    target_id: None,
                    ip: None,
                    details: serde_json::json!({ "by": "seed" }),
                };
                store.insert_category(&draft, now, &audit).await?.id
            }
        };
        category_ids.push((id, i % CATEGORIES.len()));
    }

    let mut rng = Rng(0x00E3_9011_u64);
    let drafts: Vec<ProductDraft> = (0..products)
        .map(|i| {
            let (category_id, kind) = category_ids[i % category_ids.len()];
            let (category_name, nouns) = CATEGORIES[kind];
            let brand = rng.pick(BRANDS);
            let adjective = rng.pick(ADJECTIVES);
            let noun = rng.pick(nouns);
            let model = format!("{}{}", ["X", "S", "M", "Z", "Q"][rng.below(5) as usize], 100 + rng.below(900));
            let (first, second) = (rng.pick(FEATURES), rng.pick(FEATURES));
            // Prices spread log-uniformly from about 5 to 2,000.
            let price_minor = (500.0 * (400.0_f64).powf(rng.below(10_000) as f64 / 10_000.0)).round() as i64 - 1;
            let discount_bp = [0, 0, 0, 0, 0, 500, 1000, 1500, 2000, 2500, 3000, 5000][rng.below(12) as usize];
            let stock = if rng.below(10) == 0 { 0 } else { rng.below(500) as i64 + 1 };
            ProductDraft {
                name: format!("{brand} {adjective} {noun} {model}"),
                description: format!(
                    "The {brand} {adjective} {noun} {model} brings {first} and {second}. A dependable choice in {} for everyday use.",
                    category_name.to_lowercase()
                ),
                price: Money::from_minor(price_minor.max(99)),
                discount: Percent::from_basis_points(discount_bp).expect("valid discount"),
                category_id: Some(category_id),
                images: vec![format!("https://images.example.com/products/{}.jpg", i + 1)],
                stock,
                available: rng.below(20) != 0,
                keywords: vec![noun.to_lowercase(), brand.to_lowercase(), adjective.to_lowercase(), category_name.to_lowercase()],
                sku: Some(format!("DEMO-{:02}-{:06}", kind, i + 1)),
            }
        })
        .collect();
    let inserted = store.insert_products(&drafts, None, now).await.map_err(|e| match e {
        StoreError::UniqueViolation => {
            anyhow::anyhow!("the store already holds these demo products (their SKUs are taken); seed a fresh database")
        }
        other => anyhow::Error::new(other),
    })?;
    Ok(SeedReport { categories: category_ids.len(), products: inserted })
}
