//! Integration tests: each starts the real application on an ephemeral port
//! with its own fresh database, and speaks HTTP to it. Every case runs on
//! SQLite and on PostgreSQL (`EMPORIUM_TEST_POSTGRES_URL`; without it the
//! PostgreSQL cases print a notice and pass without running).

mod harness;
mod smtp;

mod accounts;
mod admin;
mod catalog;
mod compat_flask_orders;
mod compat_geekmobile;
mod compat_microservices;
mod compat_promarket;
mod conventions;
mod dashboard;
mod edge;
mod hardening;
mod limits;
mod mail;
mod orders;
mod payments;
mod providers;
mod servers;
