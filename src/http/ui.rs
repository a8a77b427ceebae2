//! The web UI: plain HTML, CSS and ES modules from `ui/`, embedded in the binary (no build
//! step, nothing fetched from anywhere else). The page is `/`, revalidated on every visit
//! so a new binary's page is seen at once; its files live under `/assets/{version}/`, where
//! the version is a hash of them all, so they can be cached for good and the modules can
//! import each other by relative path.

use std::sync::LazyLock;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use super::paths::ASSETS;
use super::routes::{not_found, resource};

/// A file of the UI, as it is served.
struct Asset {
    name: &'static str,
    bytes: &'static [u8],
}

/// The file `ui/NAME`, embedded.
macro_rules! ui_file {
    ($name:literal) => {
        Asset {
            name: $name,
            bytes: include_bytes!(concat!("../../ui/", $name)),
        }
    };
}

const FILES: &[Asset] = &[
    ui_file!("app.js"),
    ui_file!("api.js"),
    ui_file!("chat.js"),
    ui_file!("markdown.js"),
    ui_file!("knowledge.js"),
    ui_file!("history.js"),
    ui_file!("sse.js"),
    ui_file!("app.css"),
];

impl Asset {
    fn content_type(&self) -> &'static str {
        if self.name.ends_with(".css") {
            "text/css; charset=utf-8"
        } else {
            "text/javascript; charset=utf-8"
        }
    }
}

/// The page, with `{{assets}}` where its files' directory goes.
const PAGE_TEMPLATE: &str = include_str!("../../ui/index.html");

/// What the page may load and reach: its own files and maia's API, nothing inline, no
/// eval, and no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// The files' version: the first 16 hex digits of SHA-256 over their names and contents.
static VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    for file in FILES {
        context.update(file.name.as_bytes());
        context.update(&[0]);
        context.update(&(file.bytes.len() as u64).to_le_bytes());
        context.update(file.bytes);
    }
    let digest = context.finish();
    digest.as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
});

static PAGE: LazyLock<String> =
    LazyLock::new(|| PAGE_TEMPLATE.replace("{{assets}}", &format!("{ASSETS}{}", *VERSION)));

/// The UI's routes, as the route table writes templates: its page, and its files under
/// their version.
pub const TEMPLATES: [&str; 2] = ["/", ASSET_TEMPLATE];
const ASSET_TEMPLATE: &str = "/assets/{version}/{name}";

pub fn configure(cfg: &mut web::ServiceConfig) {
    let allowed = || "GET, HEAD".to_string();
    cfg.service(
        resource("/", allowed())
            .route(web::get().to(page))
            .route(web::head().to(page)),
    )
    .service(
        resource(ASSET_TEMPLATE, allowed())
            .route(web::get().to(asset))
            .route(web::head().to(asset)),
    );
}

async fn page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .body(PAGE.as_str())
}

/// A file of this version of the UI; 404 for another version's (an old page's, after an
/// upgrade: reloading it gets the new one).
async fn asset(req: HttpRequest, path: web::Path<(String, String)>) -> HttpResponse {
    let (version, name) = path.into_inner();
    let file = FILES.iter().find(|f| f.name == name);
    match file {
        Some(file) if version == *VERSION => HttpResponse::Ok()
            .content_type(file.content_type())
            .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
            .insert_header((header::REFERRER_POLICY, "no-referrer"))
            .body(file.bytes),
        _ => not_found(req).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_names_every_file_under_this_version_and_no_placeholder_is_left() {
        assert!(!PAGE.contains("{{"), "{}", *PAGE);
        for name in ["app.js", "app.css"] {
            let url = format!("{ASSETS}{}/{name}", *VERSION);
            assert!(PAGE.contains(&url), "{url} not in the page");
        }
        assert_eq!(VERSION.len(), 16);
    }

    #[test]
    fn the_first_view_is_well_under_150_kb_even_uncompressed() {
        let total = PAGE.len() + FILES.iter().map(|f| f.bytes.len()).sum::<usize>();
        assert!(total <= 150 * 1024, "{total} bytes");
    }

    #[test]
    fn every_module_a_file_imports_is_served() {
        for file in FILES.iter().filter(|f| f.name.ends_with(".js")) {
            let text = std::str::from_utf8(file.bytes).unwrap();
            for line in text.lines().filter(|l| l.starts_with("import ")) {
                let target = line
                    .split(['"', '\''])
                    .nth(1)
                    .and_then(|p| p.strip_prefix("./"))
                    .unwrap_or_else(|| panic!("{}: not a relative import: {line}", file.name));
                assert!(
                    FILES.iter().any(|f| f.name == target),
                    "{} imports {target}, which is not served",
                    file.name
                );
            }
        }
    }
}
