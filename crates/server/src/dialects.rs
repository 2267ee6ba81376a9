//! The other API documents Emporium serves, each under `/compat/<name>` over
//! the same services (see each dialect crate under `crates/compat/`). One
//! line per dialect; the order does not matter, their base paths differ.

use emporium_api::Dialect;

pub fn all() -> Vec<Dialect> {
    vec![
        Dialect {
            base_path: "/compat/geekmobile",
            routes: emporium_compat_geekmobile::routes(),
            refusal: emporium_compat_geekmobile::refusal,
        },
        Dialect {
            base_path: "/compat/microservices",
            routes: emporium_compat_microservices::routes(),
            refusal: emporium_compat_microservices::refusal,
        },
        Dialect {
            base_path: "/compat/promarket",
            routes: emporium_compat_promarket::routes(),
            refusal: emporium_compat_promarket::refusal,
        },
        Dialect {
            base_path: "/compat/flask-orders",
            routes: emporium_compat_flask_orders::routes(),
            refusal: emporium_compat_flask_orders::refusal,
        },
    ]
}
