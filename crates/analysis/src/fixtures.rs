//! The unit tests' literal request logs: a request written as what sets it apart from a plain GET
//! answered 200 ([`request`]), and a log of such requests as every detector takes it ([`log`]).

use crate::columns::{RequestColumns, RequestLogBuilder};
use callbudget_store::RequestLogRow;

/// One request of a test's log, made by [`request`]; each setter says how it differs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Request<'a>(RequestLogRow<'a>);

/// A request at `ts_us` (µs since the Unix epoch): a GET answered 200, nothing else known — no
/// path, operation or sender.
pub(crate) fn request<'a>(ts_us: i64) -> Request<'a> {
    Request(RequestLogRow {
        ts_us,
        response_code: Some(200),
        method: Some("GET"),
        path: None,
        user_agent: None,
        admin_id: None,
        source_ip: None,
        operation_id: None,
        client_id: None,
    })
}

/// The log of `requests`, pushed in the order given (the log puts them in time order).
pub(crate) fn log<'a>(requests: impl IntoIterator<Item = Request<'a>>) -> RequestColumns {
    let mut builder = RequestLogBuilder::default();
    for Request(row) in requests {
        builder.push(&row);
    }
    builder.finish()
}

// Each setter takes a value or an `Option` (`None`: the record has no such field).
impl<'a> Request<'a> {
    pub fn status(mut self, code: impl Into<Option<u16>>) -> Self {
        self.0.response_code = code.into();
        self
    }

    pub fn method(mut self, method: impl Into<Option<&'a str>>) -> Self {
        self.0.method = method.into();
        self
    }

    pub fn path(mut self, path: impl Into<Option<&'a str>>) -> Self {
        self.0.path = path.into();
        self
    }

    pub fn operation(mut self, operation_id: impl Into<Option<&'a str>>) -> Self {
        self.0.operation_id = operation_id.into();
        self
    }

    pub fn user_agent(mut self, user_agent: impl Into<Option<&'a str>>) -> Self {
        self.0.user_agent = user_agent.into();
        self
    }

    pub fn admin(mut self, admin_id: impl Into<Option<&'a str>>) -> Self {
        self.0.admin_id = admin_id.into();
        self
    }

    pub fn source_ip(mut self, source_ip: impl Into<Option<&'a str>>) -> Self {
        self.0.source_ip = source_ip.into();
        self
    }

    pub fn client_id(mut self, client_id: impl Into<Option<&'a str>>) -> Self {
        self.0.client_id = client_id.into();
        self
    }
}
