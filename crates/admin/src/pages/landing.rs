//! `/`: a small page pointing to the dashboard, the API docs and the health check.

use askama::Template;

use crate::render::{self, Layout, PageResult};

#[derive(Template)]
#[template(path = "landing.html")]
struct Landing {
    layout: Layout,
}

pub async fn landing() -> PageResult {
    let mut layout = Layout::new("Emporium", "");
    layout.signed_in = false;
    render::ok(&Landing { layout })
}
