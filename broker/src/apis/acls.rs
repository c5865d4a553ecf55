//! DescribeAcls, CreateAcls, DeleteAcls over the broker's ACL store, with Kafka's checks and
//! messages (`AclApis`, `AclControlManager`). Without an authorizer each is answered
//! SECURITY_DISABLED with the messages Kafka gives when `authorizer.class.name` is unset: UIs
//! then show "no ACLs" instead of an error. The caller's ALTER or DESCRIBE on the cluster is
//! checked before (`authorize`).

use std::collections::BTreeMap;
use std::sync::Arc;

use gregor_protocol::messages::create_acls_response::AclCreationResult;
use gregor_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use gregor_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use gregor_protocol::messages::{
    CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse,
    DescribeAclsRequest, DescribeAclsResponse,
};
use gregor_protocol::{ResponseError, StrBytes};

use crate::apis::some_str;
use crate::broker::Broker;
use crate::security::acl_store::{self, AclStore};
use crate::security::authorizer::{
    AclBinding, AclBindingFilter, AclOperation, PatternType, PermissionType, ResourceType,
};

/// What Kafka's DescribeAcls says without an authorizer.
const DESCRIBE_MESSAGE: &str = "No Authorizer is configured on the broker";
/// What Kafka's CreateAcls and DeleteAcls say for each entry without an authorizer.
const ALTER_MESSAGE: &str = "No Authorizer is configured.";

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// A filter of the wire's fields; v0 knows LITERAL patterns only, and reads ANY as LITERAL
/// (Kafka's `DescribeAclsRequest.normalizeAndValidate`).
#[allow(clippy::too_many_arguments)]
fn filter_of(
    version: i16,
    resource_type: i8,
    name: Option<&StrBytes>,
    pattern_type: i8,
    principal: Option<&StrBytes>,
    host: Option<&StrBytes>,
    operation: i8,
    permission: i8,
) -> Result<AclBindingFilter, String> {
    let mut pattern_type = PatternType::from_code(pattern_type);
    if version == 0 {
        pattern_type = match pattern_type {
            PatternType::Any | PatternType::Literal => PatternType::Literal,
            _ => return Err("Version 0 only supports literal resource pattern types".into()),
        };
    }
    let filter = AclBindingFilter {
        resource_type: ResourceType::from_code(resource_type),
        name: name.map(|n| n.to_string()),
        pattern_type,
        principal: principal.map(|p| p.to_string()),
        host: host.map(|h| h.to_string()),
        operation: AclOperation::from_code(operation),
        permission: PermissionType::from_code(permission),
    };
    if filter.is_unknown() {
        return Err("The filter contains UNKNOWN elements".into());
    }
    Ok(filter)
}

/// Handles DescribeAcls: the matching ACLs grouped by resource pattern.
pub fn describe_acls(
    broker: &Arc<Broker>,
    request: &DescribeAclsRequest,
    version: i16,
) -> DescribeAclsResponse {
    let Some(store) = &broker.acls else {
        return DescribeAclsResponse::default()
            .with_error_code(ResponseError::SecurityDisabled.code())
            .with_error_message(some_str(DESCRIBE_MESSAGE));
    };
    let filter = filter_of(
        version,
        request.resource_type_filter,
        request.resource_name_filter.as_ref(),
        request.pattern_type_filter,
        request.principal_filter.as_ref(),
        request.host_filter.as_ref(),
        request.operation,
        request.permission_type,
    );
    match filter {
        Ok(filter) => DescribeAclsResponse::default().with_resources(describe_in(store, &filter)),
        Err(message) => DescribeAclsResponse::default()
            .with_error_code(ResponseError::InvalidRequest.code())
            .with_error_message(some_str(message)),
    }
}

fn describe_in(store: &AclStore, filter: &AclBindingFilter) -> Vec<DescribeAclsResource> {
    let mut by_resource: BTreeMap<(ResourceType, String, PatternType), Vec<AclDescription>> =
        BTreeMap::new();
    for acl in store.describe(filter) {
        by_resource
            .entry((acl.resource_type, acl.name.clone(), acl.pattern_type))
            .or_default()
            .push(
                AclDescription::default()
                    .with_principal(text(&acl.principal))
                    .with_host(text(&acl.host))
                    .with_operation(acl.operation.code())
                    .with_permission_type(acl.permission.code()),
            );
    }
    by_resource
        .into_iter()
        .map(|((rt, name, pt), acls)| {
            DescribeAclsResource::default()
                .with_resource_type(rt.code())
                .with_resource_name(text(&name))
                .with_pattern_type(pt.code())
                .with_acls(acls)
        })
        .collect()
}

/// Handles CreateAcls: each creation checked as Kafka checks it, the valid ones stored in one
/// durable write.
pub fn create_acls(broker: &Arc<Broker>, request: &CreateAclsRequest) -> CreateAclsResponse {
    let Some(store) = &broker.acls else {
        let results = request
            .creations
            .iter()
            .map(|_| {
                AclCreationResult::default()
                    .with_error_code(ResponseError::SecurityDisabled.code())
                    .with_error_message(some_str(ALTER_MESSAGE))
            })
            .collect();
        return CreateAclsResponse::default().with_results(results);
    };
    let checked: Vec<Result<AclBinding, String>> = request
        .creations
        .iter()
        .map(|c| {
            let acl = AclBinding {
                resource_type: ResourceType::from_code(c.resource_type),
                name: c.resource_name.to_string(),
                pattern_type: PatternType::from_code(c.resource_pattern_type),
                principal: c.principal.to_string(),
                host: c.host.to_string(),
                operation: AclOperation::from_code(c.operation),
                permission: PermissionType::from_code(c.permission_type),
            };
            acl_store::validate(&acl).map(|()| acl)
        })
        .collect();
    let valid: Vec<AclBinding> = checked.iter().filter_map(|c| c.clone().ok()).collect();
    let written = store.create(&valid).map_err(|e| {
        tracing::error!(cause = %e, "cannot store ACLs");
        e.to_string()
    });
    let results = checked
        .into_iter()
        .map(|c| match (c, &written) {
            (Err(message), _) => AclCreationResult::default()
                .with_error_code(ResponseError::InvalidRequest.code())
                .with_error_message(some_str(message)),
            (Ok(_), Err(message)) => AclCreationResult::default()
                .with_error_code(ResponseError::UnknownServerError.code())
                .with_error_message(some_str(message.clone())),
            (Ok(_), Ok(())) => AclCreationResult::default(),
        })
        .collect();
    CreateAclsResponse::default().with_results(results)
}

/// Handles DeleteAcls: each filter checked, what the valid ones match removed in one durable
/// write and listed per filter.
pub fn delete_acls(broker: &Arc<Broker>, request: &DeleteAclsRequest) -> DeleteAclsResponse {
    let Some(store) = &broker.acls else {
        let results = request
            .filters
            .iter()
            .map(|_| {
                DeleteAclsFilterResult::default()
                    .with_error_code(ResponseError::SecurityDisabled.code())
                    .with_error_message(some_str(ALTER_MESSAGE))
            })
            .collect();
        return DeleteAclsResponse::default().with_filter_results(results);
    };
    // DeleteAcls v0 reads pattern types as DescribeAcls v0 does; later versions take them all.
    let checked: Vec<Result<AclBindingFilter, String>> = request
        .filters
        .iter()
        .map(|f| {
            filter_of(
                1,
                f.resource_type_filter,
                f.resource_name_filter.as_ref(),
                f.pattern_type_filter,
                f.principal_filter.as_ref(),
                f.host_filter.as_ref(),
                f.operation,
                f.permission_type,
            )
        })
        .collect();
    let valid: Vec<AclBindingFilter> = checked.iter().filter_map(|c| c.clone().ok()).collect();
    let removed = store.delete(&valid).map_err(|e| {
        tracing::error!(cause = %e, "cannot store ACLs");
        e.to_string()
    });
    let mut removed_each = match &removed {
        Ok(r) => r.clone().into_iter(),
        Err(_) => Vec::new().into_iter(),
    };
    let results = checked
        .into_iter()
        .map(|c| match (c, &removed) {
            (Err(message), _) => DeleteAclsFilterResult::default()
                .with_error_code(ResponseError::InvalidRequest.code())
                .with_error_message(some_str(message)),
            (Ok(_), Err(message)) => DeleteAclsFilterResult::default()
                .with_error_code(ResponseError::UnknownServerError.code())
                .with_error_message(some_str(message.clone())),
            (Ok(_), Ok(_)) => DeleteAclsFilterResult::default().with_matching_acls(
                removed_each
                    .next()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|acl| {
                        DeleteAclsMatchingAcl::default()
                            .with_resource_type(acl.resource_type.code())
                            .with_resource_name(text(&acl.name))
                            .with_pattern_type(acl.pattern_type.code())
                            .with_principal(text(&acl.principal))
                            .with_host(text(&acl.host))
                            .with_operation(acl.operation.code())
                            .with_permission_type(acl.permission.code())
                    })
                    .collect(),
            ),
        })
        .collect();
    DeleteAclsResponse::default().with_filter_results(results)
}
