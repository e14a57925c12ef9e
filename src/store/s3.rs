//! S3-compatible object storage (being written).
#![allow(missing_docs, unused_variables)]

use std::ops::Range;

use super::{S3Options, Store, StoreError};

pub struct S3Store;

impl S3Store {
    pub fn open(rest: &str, opts: &S3Options) -> Result<Self, StoreError> {
        Err(StoreError::Backend {
            store: format!("s3://{rest}"),
            message: "not yet implemented".into(),
        })
    }
}

impl Store for S3Store {
    fn describe(&self) -> String {
        unreachable!()
    }
    fn put(&self, key: &str, data: &[u8]) -> Result<(), StoreError> {
        unreachable!()
    }
    fn get(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        unreachable!()
    }
    fn get_range(&self, key: &str, range: Range<u64>) -> Result<Vec<u8>, StoreError> {
        unreachable!()
    }
    fn size(&self, key: &str) -> Result<Option<u64>, StoreError> {
        unreachable!()
    }
    fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, StoreError> {
        unreachable!()
    }
    fn delete(&self, key: &str) -> Result<(), StoreError> {
        unreachable!()
    }
}
