//! A small client of the S3 API, enough for Flux's Bucket sources: does a
//! bucket exist (HeadBucket), which objects does it hold (ListObjectsV2,
//! every page, under a prefix), and their content (GetObject), signed with
//! AWS Signature Version 4 ([`sigv4`]) or sent anonymously; and, for tests
//! and tools that fill buckets, CreateBucket, PutObject and DeleteObject.
//!
//! It behaves where it shows as minio-go (Flux's S3 client) does: path-style
//! addressing for generic endpoints and virtual-hosted style for AWS and
//! Google's, ETags with their quotes trimmed, errors worded by the server's
//! message (or minio-go's words when a HEAD answer has no body), and
//! `NoSuchKey` as the sign of a missing object. No Kubernetes client:
//! controllers wire it to Secrets.
#![deny(missing_docs)]

mod client;
mod error;
pub mod sigv4;
mod xml;

pub use client::{Client, ClientOptions, Object};
pub use error::{Error, ErrorResponse, Result};
pub use sigv4::Credentials;
