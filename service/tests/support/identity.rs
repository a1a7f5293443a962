//! Who the test task is (the test region and account, and the host names
//! they give each endpoint) and whom it trusts (the testkit's CA, made at
//! test time).
//! The container test, which needs nothing else from `support`, includes
//! this file alone.

pub(crate) use isokit_testkit::TestCa;

pub(crate) const REGION: &str = "eu-west-1";
pub(crate) const ACCOUNT: &str = "123456789012";

/// The host name the service checks for `service`, in the test region and account.
pub(crate) fn host(service: &str) -> String {
    let endpoint: isokit_endpoints::Endpoint = service.parse().expect("valid endpoint name");
    endpoint.hostname(REGION, ACCOUNT)
}
