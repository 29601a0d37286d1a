//! Huawei Cloud RDS client: request signing, endpoints, models, errors, retries, rate
//! limiting and the job waiter. Knows nothing about Terraform.

pub mod credentials;
pub mod signer;
