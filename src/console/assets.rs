//! The console's files, embedded at build time (`include_str!` of the top-level `console/`
//! directory: plain ES modules and one stylesheet, no build step), and the handler that serves
//! them. Lookup is by exact path in a fixed table, so no request can name anything else (no
//! directory traversal: there is no directory).

use crate::admin::Reply;
use crate::codec::http_head::{Method, RequestHead};

/// What pages may load and where they may connect. No inline script or style anywhere (every
/// script is a module file of ours); `connect-src` allows any http(s)/ws(s) URL because the Try
/// it panel talks to the gateway's port, another origin whose address only the user knows.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self' http: https: ws: wss:; form-action 'self'; \
     base-uri 'none'; frame-ancestors 'none'";

/// Files have no content hash in their names, so browsers revalidate on every load: a newer
/// binary's pages are never mixed with an older one's modules.
const CACHE_CONTROL: &str = "no-cache";

macro_rules! embedded {
    ($($path:literal => $file:literal, $type:expr;)*) => {
        /// Every embedded file: its URL path, its content type and its text.
        const FILES: &[(&str, &str, &str)] = &[
            $(($path, $type, include_str!(concat!("../../console/", $file))),)*
        ];
        /// The URL paths the console serves (for tests and the 404 page).
        pub const ASSET_PATHS: &[&str] = &[$($path,)*];
    };
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

embedded! {
    "/index.html" => "index.html", HTML;
    "/app.css" => "app.css", "text/css; charset=utf-8";
    "/favicon.svg" => "favicon.svg", "image/svg+xml";
    "/js/api.js" => "js/api.js", JS;
    "/js/ui.js" => "js/ui.js", JS;
    "/js/app.js" => "js/app.js", JS;
    "/js/signin.js" => "js/signin.js", JS;
    "/js/apis_list.js" => "js/apis_list.js", JS;
    "/js/wizard.js" => "js/wizard.js", JS;
    "/js/wizard_forms.js" => "js/wizard_forms.js", JS;
    "/js/api_page.js" => "js/api_page.js", JS;
    "/js/plans.js" => "js/plans.js", JS;
    "/js/subscriptions.js" => "js/subscriptions.js", JS;
    "/js/deployments.js" => "js/deployments.js", JS;
    "/js/danger_zone.js" => "js/danger_zone.js", JS;
    "/js/try_it.js" => "js/try_it.js", JS;
    "/js/portal.js" => "js/portal.js", JS;
    "/js/tokens.js" => "js/tokens.js", JS;
}

/// Answers a GET or HEAD for an embedded file; `/` is the single page (`index.html`), whose
/// hash routes (`#/apis`, `#/portal`) are the console's and the portal's pages.
pub fn serve_asset(head: &RequestHead) -> Reply {
    if !matches!(head.method(), Method::Get | Method::Head) {
        return with_security_headers(Reply::method_not_allowed(
            "GET, HEAD",
            "the console's files are read with GET",
        ));
    }
    let path = match head.path() {
        "/" => "/index.html",
        path => path,
    };
    let reply = match FILES.iter().find(|(file, _, _)| *file == path) {
        Some((_, content_type, text)) => Reply::new(200, content_type, (*text).to_owned()),
        None => Reply::text(
            404,
            "no such console page; the console is at / and the developer portal at /#/portal",
        ),
    };
    with_security_headers(reply)
}

fn with_security_headers(mut reply: Reply) -> Reply {
    reply.headers.extend([
        ("Cache-Control", CACHE_CONTROL.to_owned()),
        (
            "Content-Security-Policy",
            CONTENT_SECURITY_POLICY.to_owned(),
        ),
        ("X-Content-Type-Options", "nosniff".to_owned()),
        ("Referrer-Policy", "no-referrer".to_owned()),
    ]);
    reply
}
