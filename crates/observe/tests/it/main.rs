//! Integration tests of logferry-observe: routes driven through the public API, scraped
//! over real loopback HTTP.

mod counters;
mod ready;
mod scrape;
mod server;
mod support;
