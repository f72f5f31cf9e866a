//! A dashboard session over plain HTTP (reqwest, redirects not followed): sign in with a key,
//! keep the cookie, read the CSRF token from a page, send forms.

use mppsol_operator::IssuedKey;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};

/// A signed-in browser, without the browser.
pub struct Web {
    pub http: reqwest::Client,
    pub base: String,
    /// `name=value` of the session cookie.
    pub cookie: String,
    /// The full `Set-Cookie` the sign-in answered with.
    pub set_cookie: String,
    pub csrf: String,
}

/// A client that shows redirects instead of following them.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The CSRF token in a page's forms.
pub fn csrf_of(html: &str) -> Option<String> {
    let start = html.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

/// Status, body and `Location` of a response.
pub async fn read(r: reqwest::Response) -> (u16, String, String) {
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, r.text().await.unwrap_or_default(), location)
}

impl Web {
    /// Signs in with `key`; panics unless it worked.
    pub async fn sign_in(base: &str, key: &IssuedKey) -> Self {
        let http = client();
        let r = http
            .post(format!("{base}/dashboard/sign-in"))
            .form(&[
                ("key_id", key.key.id.as_str()),
                ("secret", key.secret.as_str()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status().as_u16(),
            303,
            "sign-in redirects to the dashboard"
        );
        let set_cookie = r
            .headers()
            .get(SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .expect("a session cookie")
            .to_owned();
        let cookie = set_cookie.split(';').next().unwrap().to_owned();
        let mut web = Self {
            http,
            base: base.to_owned(),
            cookie,
            set_cookie,
            csrf: String::new(),
        };
        let (status, html, _) = web.get("/dashboard").await;
        assert_eq!(status, 200, "{html}");
        web.csrf = csrf_of(&html).expect("pages carry the CSRF token");
        web
    }

    /// `GET path` with the session.
    pub async fn get(&self, path: &str) -> (u16, String, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header(COOKIE, &self.cookie)
            .send()
            .await
            .unwrap();
        read(r).await
    }

    /// `POST path` with the session and exactly `form` (no CSRF token added).
    pub async fn post_raw(&self, path: &str, form: &[(&str, &str)]) -> (u16, String, String) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header(COOKIE, &self.cookie)
            .form(form)
            .send()
            .await
            .unwrap();
        read(r).await
    }

    /// `POST path` with the session, `form` and the CSRF token.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, String, String) {
        let mut all = form.to_vec();
        all.push(("csrf", &self.csrf));
        self.post_raw(path, &all).await
    }
}
