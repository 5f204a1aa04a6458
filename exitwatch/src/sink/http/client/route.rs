//! Which proxy, if any, the environment names for a receiver (pure).

use http::header::HeaderValue;
use http::Uri;
use hyper_util::client::proxy::matcher::Matcher;

/// How connections reach the receiver.
pub(super) enum Route {
    Direct,
    /// Plain http through a proxy: absolute-form requests to it.
    Forward {
        host: String,
        port: u16,
        auth: Option<HeaderValue>,
    },
    /// https through a proxy: CONNECT, then TLS inside the tunnel.
    Tunnel {
        proxy: Uri,
        auth: Option<HeaderValue>,
    },
}

/// Why a proxy from the environment cannot be used (a start-up error, exit 64).
#[derive(Debug, thiserror::Error)]
#[error("the proxy for {scheme} set in the environment ({vars}) {why}")]
pub struct ProxyError {
    scheme: &'static str,
    vars: &'static str,
    why: &'static str,
}

/// The proxy, if any, for a receiver at `authority`.
pub(super) fn route(
    scheme: &'static str,
    authority: &str,
    tls: bool,
    proxies: &Matcher,
) -> Result<Route, ProxyError> {
    let vars = if tls {
        "HTTPS_PROXY/https_proxy"
    } else {
        "HTTP_PROXY/http_proxy"
    };
    let fail = |why| ProxyError { scheme, vars, why };
    let dst: Uri = match format!("{scheme}://{authority}/").parse() {
        Ok(u) => u,
        Err(_) => return Ok(Route::Direct),
    };
    let Some(intercept) = proxies.intercept(&dst) else {
        return Ok(Route::Direct);
    };
    let proxy = intercept.uri();
    if proxy.scheme_str() != Some("http") {
        return Err(fail(
            "is not an http:// proxy: only http:// proxies are supported (https through them with CONNECT)",
        ));
    }
    let (Some(host), Some(port)) = (proxy.host(), proxy.port_u16().or(Some(80))) else {
        return Err(fail("has no host"));
    };
    let auth = intercept.basic_auth().cloned().map(|mut a| {
        a.set_sensitive(true);
        a
    });
    Ok(match tls {
        true => Route::Tunnel {
            proxy: proxy.clone(),
            auth,
        },
        false => Route::Forward {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
            auth,
        },
    })
}
