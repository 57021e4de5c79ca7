//! Opening a store by URL: the embedded default, a SQLite URL, an unsupported scheme.

use std::path::{Path, PathBuf};

use uuid::Uuid;

use super::t0;

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        TempDir(std::env::temp_dir().join(format!("blu-open-test-{}", Uuid::new_v4().simple())))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

#[tokio::test]
async fn without_a_url_the_store_is_a_sqlite_file_in_the_data_directory() {
    let dir = TempDir::new();
    let store = blu_store::open(None, &dir.0).await.unwrap();
    assert_eq!(store.backend(), "sqlite");
    let (user, _) = store.login_user("+989121111111", t0()).await.unwrap();
    assert!(dir.0.join("blu.db").is_file());
    drop(store);
    // Reopening runs the migrations again without effect and keeps the data.
    let store = blu_store::open(None, &dir.0).await.unwrap();
    assert_eq!(
        store.user(user.id).await.unwrap().map(|u| u.id),
        Some(user.id)
    );
}

#[tokio::test]
async fn a_sqlite_url_names_the_database_file() {
    let dir = TempDir::new();
    let file = dir.0.join("nested").join("custom.db");
    let url = format!("sqlite://{}?mode=rwc", file.display());
    let store = blu_store::open(Some(&url), Path::new("/nonexistent"))
        .await
        .unwrap();
    assert_eq!(store.backend(), "sqlite");
    store.ping().await.unwrap();
    assert!(file.is_file());
}

#[tokio::test]
async fn an_unsupported_url_scheme_is_refused() {
    let dir = TempDir::new();
    let refused = blu_store::open(Some("mysql://localhost/blu"), &dir.0).await;
    let message = format!("{:#}", refused.err().expect("refused"));
    assert!(message.contains("mysql"), "{message}");
}
