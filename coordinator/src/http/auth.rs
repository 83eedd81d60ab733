//! Who may read job data over HTTP: the bearer token of the gRPC side,
//! from an `authorization` header (scripts, Prometheus) or the cookie the
//! login form sets (a browser).

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;

use super::HttpState;
use crate::auth::constant_time_eq;

const COOKIE: &str = "rwclip_token";

/// Whether the request carries the token (always, when none is configured).
pub fn authorized(state: &HttpState, headers: &HeaderMap) -> bool {
    let Some(token) = state.token.as_deref() else { return true };
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| constant_time_eq(given.trim().as_bytes(), token.as_bytes()));
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .any(|(k, v)| k == COOKIE && constant_time_eq(v.as_bytes(), token.as_bytes()));
    bearer || cookie
}

/// The answer to a request without the token: the login page for a
/// browser asking for the dashboard, 401 for everything else.
pub fn refused(page: bool) -> Response {
    if page {
        Redirect::to("/login").into_response()
    } else {
        (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], "missing or invalid token: send `authorization: Bearer <token>` or log in at /login\n").into_response()
    }
}

/// The login form; `/login?token=T` logs in at once (the link `rwclip run`
/// and the coordinator print, as Jupyter's are).
pub async fn login_form(State(state): State<HttpState>, Query(query): Query<LoginQuery>) -> Response {
    match query.token {
        Some(token) => log_in(&state, &token),
        None => Html(LOGIN_PAGE).into_response(),
    }
}

#[derive(serde::Deserialize)]
pub struct LoginQuery {
    token: Option<String>,
}

#[derive(serde::Deserialize)]
pub struct Login {
    token: String,
}

pub async fn login(State(state): State<HttpState>, Form(login): Form<Login>) -> Response {
    log_in(&state, &login.token)
}

/// Sets the cookie and goes to the dashboard, or shows the form again.
fn log_in(state: &HttpState, given: &str) -> Response {
    let valid = match state.token.as_deref() {
        None => true,
        Some(token) => constant_time_eq(given.trim().as_bytes(), token.as_bytes()),
    };
    if !valid {
        return (StatusCode::UNAUTHORIZED, Html(LOGIN_PAGE.replace("<!--error-->", "<p class=\"error\">That token is not this coordinator's.</p>"))).into_response();
    }
    // Lax: a link or bookmark to the dashboard from elsewhere still carries it
    // (top-level GETs only; nothing here changes state on a GET).
    let cookie = format!("{COOKIE}={}; Path=/; HttpOnly; SameSite=Lax", given.trim());
    ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response()
}

const LOGIN_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>rwclip coordinator: log in</title>
<style>body{font:15px system-ui,sans-serif;margin:3em auto;max-width:28em}input{font:inherit;padding:.3em;width:100%}button{font:inherit;margin-top:.6em}.error{color:#b00}</style>
</head><body><h1>rwclip coordinator</h1>
<!--error-->
<form method="post" action="/login"><label>Token (the coordinator's <code>--token-file</code>)<br><input type="password" name="token" autofocus></label><br><button type="submit">Log in</button></form>
</body></html>
"#;
