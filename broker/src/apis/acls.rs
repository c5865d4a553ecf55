//! DescribeAcls, CreateAcls, DeleteAcls: Gregor has no authorizer, so each is answered
//! SECURITY_DISABLED with the messages Kafka gives when `authorizer.class.name` is unset
//! (`AclApis`): UIs then show "no ACLs" instead of an error.

use gregor_protocol::messages::create_acls_response::AclCreationResult;
use gregor_protocol::messages::delete_acls_response::DeleteAclsFilterResult;
use gregor_protocol::messages::{
    CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse,
    DescribeAclsResponse,
};
use gregor_protocol::ResponseError;

use crate::apis::some_str;

/// What Kafka's DescribeAcls says without an authorizer.
const DESCRIBE_MESSAGE: &str = "No Authorizer is configured on the broker";
/// What Kafka's CreateAcls and DeleteAcls say for each entry without an authorizer.
const ALTER_MESSAGE: &str = "No Authorizer is configured.";

/// Handles DescribeAcls.
pub fn describe_acls() -> DescribeAclsResponse {
    DescribeAclsResponse::default()
        .with_error_code(ResponseError::SecurityDisabled.code())
        .with_error_message(some_str(DESCRIBE_MESSAGE))
}

/// Handles CreateAcls: each creation refused.
pub fn create_acls(request: &CreateAclsRequest) -> CreateAclsResponse {
    let results = request
        .creations
        .iter()
        .map(|_| {
            AclCreationResult::default()
                .with_error_code(ResponseError::SecurityDisabled.code())
                .with_error_message(some_str(ALTER_MESSAGE))
        })
        .collect();
    CreateAclsResponse::default().with_results(results)
}

/// Handles DeleteAcls: each filter refused, matching nothing.
pub fn delete_acls(request: &DeleteAclsRequest) -> DeleteAclsResponse {
    let results = request
        .filters
        .iter()
        .map(|_| {
            DeleteAclsFilterResult::default()
                .with_error_code(ResponseError::SecurityDisabled.code())
                .with_error_message(some_str(ALTER_MESSAGE))
        })
        .collect();
    DeleteAclsResponse::default().with_filter_results(results)
}
