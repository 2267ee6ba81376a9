//! `/admin`: today's and the week's figures, what needs doing, the latest orders.

use std::sync::Arc;

use askama::Template;
use axum::Extension;
use axum::extract::{RawQuery, State};
use emporium_api::AppState;
use emporium_domain::paging::Page;
use emporium_store::{OrderFigures, OrderFilter};

use super::orders::OrderRow;
use super::products::ProductRow;
use crate::AdminSettings;
use crate::render::{self, Layout, PageResult};
use crate::session::AdminUser;

#[derive(Template)]
#[template(path = "home.html")]
struct Home {
    layout: Layout,
    figures: OrderFigures,
    threshold: i64,
    low_stock: Vec<ProductRow>,
    latest: Vec<OrderRow>,
}

pub async fn home(
    State(state): State<AppState>,
    Extension(AdminUser(principal)): Extension<AdminUser>,
    Extension(settings): Extension<Arc<AdminSettings>>,
    RawQuery(raw): RawQuery,
) -> PageResult {
    let q = super::query(raw);
    let services = &state.services;
    let figures = services.orders.figures(&principal, settings.low_stock_threshold).await?;
    let mut low_stock = Vec::with_capacity(figures.low_stock.len());
    for id in &figures.low_stock {
        low_stock.push(ProductRow::from(&*services.catalog.product(*id).await?));
    }
    let page = Page::new(None, Some(10), 10).expect("a valid page");
    let (orders, _) = services.orders.list(&principal, OrderFilter::default(), page).await?;
    render::ok(&Home {
        layout: Layout::new("Dashboard", "home").with_notice(q.optional("notice")),
        figures,
        threshold: settings.low_stock_threshold,
        low_stock,
        latest: orders.iter().map(OrderRow::from).collect(),
    })
}
