//! The security and quota admin APIs as Kafka 4.4 answers them without an authorizer, quotas or
//! SCRAM users (issue 18): DescribeAcls, CreateAcls and DeleteAcls SECURITY_DISABLED with
//! Kafka's messages; DescribeClientQuotas no entries, or Kafka's error for a bad filter;
//! DescribeUserScramCredentials no users, each named one RESOURCE_NOT_FOUND, one named twice
//! DUPLICATE_RESOURCE.

use gregor_itests::raw::messages::create_acls_request::AclCreation;
use gregor_itests::raw::messages::delete_acls_request::DeleteAclsFilter;
use gregor_itests::raw::messages::describe_client_quotas_request::ComponentData;
use gregor_itests::raw::messages::describe_user_scram_credentials_request::UserName;
use gregor_itests::raw::messages::{
    ApiKey, CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse,
    DescribeAclsRequest, DescribeAclsResponse, DescribeClientQuotasRequest,
    DescribeClientQuotasResponse, DescribeUserScramCredentialsRequest,
    DescribeUserScramCredentialsResponse,
};
use gregor_itests::raw::RawClient;
use gregor_itests::reference::each_broker;
use gregor_protocol::StrBytes;

const UNSUPPORTED_VERSION: i16 = 35;
const INVALID_REQUEST: i16 = 42;
const SECURITY_DISABLED: i16 = 54;
const RESOURCE_NOT_FOUND: i16 = 91;
const DUPLICATE_RESOURCE: i16 = 92;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn text(v: &Option<StrBytes>) -> Option<String> {
    v.as_ref().map(|m| m.to_string())
}

fn acls(client: &mut RawClient, version: i16) -> anyhow::Result<()> {
    let described: DescribeAclsResponse = client.call(
        ApiKey::DescribeAcls,
        version,
        &DescribeAclsRequest::default()
            .with_resource_type_filter(1)
            .with_pattern_type_filter(1)
            .with_operation(1)
            .with_permission_type(1),
    )?;
    assert_eq!(described.error_code, SECURITY_DISABLED);
    assert_eq!(
        text(&described.error_message).as_deref(),
        Some("No Authorizer is configured on the broker")
    );
    assert!(described.resources.is_empty());
    let creation = AclCreation::default()
        .with_resource_type(2)
        .with_resource_name(s("t"))
        .with_resource_pattern_type(3)
        .with_principal(s("User:alice"))
        .with_host(s("*"))
        .with_operation(3)
        .with_permission_type(3);
    let created: CreateAclsResponse = client.call(
        ApiKey::CreateAcls,
        version,
        &CreateAclsRequest::default().with_creations(vec![creation.clone(), creation]),
    )?;
    assert_eq!(created.results.len(), 2);
    for r in &created.results {
        assert_eq!(r.error_code, SECURITY_DISABLED);
        assert_eq!(
            text(&r.error_message).as_deref(),
            Some("No Authorizer is configured.")
        );
    }
    let filter = DeleteAclsFilter::default()
        .with_resource_type_filter(1)
        .with_pattern_type_filter(1)
        .with_operation(1)
        .with_permission_type(1);
    let deleted: DeleteAclsResponse = client.call(
        ApiKey::DeleteAcls,
        version,
        &DeleteAclsRequest::default().with_filters(vec![filter]),
    )?;
    assert_eq!(deleted.filter_results.len(), 1);
    let r = &deleted.filter_results[0];
    assert_eq!(r.error_code, SECURITY_DISABLED);
    assert_eq!(
        text(&r.error_message).as_deref(),
        Some("No Authorizer is configured.")
    );
    assert!(r.matching_acls.is_empty());
    Ok(())
}

fn quotas(
    client: &mut RawClient,
    components: Vec<ComponentData>,
) -> anyhow::Result<DescribeClientQuotasResponse> {
    client.call(
        ApiKey::DescribeClientQuotas,
        1,
        &DescribeClientQuotasRequest::default().with_components(components),
    )
}

fn component(entity: &str, match_type: i8, m: Option<&str>) -> ComponentData {
    ComponentData::default()
        .with_entity_type(s(entity))
        .with_match_type(match_type)
        .with_match(m.map(s))
}

#[test]
fn security_and_quota_apis_answer_as_kafka_without_them() -> anyhow::Result<()> {
    each_broker(&[], |broker| {
        let mut client = RawClient::connect(&broker.bootstrap)?;
        for version in 1..=3 {
            acls(&mut client, version)?;
        }

        let none = quotas(&mut client, vec![])?;
        assert_eq!((none.error_code, none.entries), (0, Some(vec![])));
        let alice = quotas(&mut client, vec![component("user", 0, Some("alice"))])?;
        assert_eq!((alice.error_code, alice.entries), (0, Some(vec![])));
        let cases = [
            (
                vec![component("", 0, Some("a"))],
                INVALID_REQUEST,
                "Invalid empty entity type.",
            ),
            (
                vec![component("user", 2, None), component("user", 2, None)],
                INVALID_REQUEST,
                "Entity type user cannot appear more than once in the filter.",
            ),
            (
                vec![component("topic", 2, None)],
                UNSUPPORTED_VERSION,
                "Unsupported entity type topic",
            ),
            (
                vec![component("user", 0, None)],
                INVALID_REQUEST,
                "Request specified MATCH_TYPE_EXACT, but set match string to null.",
            ),
            (
                vec![component("client-id", 1, Some("a"))],
                INVALID_REQUEST,
                "Request specified MATCH_TYPE_DEFAULT, but also specified a match string.",
            ),
            (
                vec![component("ip", 2, Some("a"))],
                INVALID_REQUEST,
                "Request specified MATCH_TYPE_SPECIFIED, but also specified a match string.",
            ),
            (
                vec![component("ip", 2, None), component("user", 1, None)],
                INVALID_REQUEST,
                "Invalid entity filter component combination. IP filter component should not \
                 be used with user or clientId filter component.",
            ),
        ];
        for (components, code, message) in cases {
            let refused = quotas(&mut client, components)?;
            assert_eq!(refused.error_code, code, "{message}");
            assert_eq!(text(&refused.error_message).as_deref(), Some(message));
            assert_eq!(refused.entries, None);
        }

        let users = |names: Option<Vec<&str>>| {
            DescribeUserScramCredentialsRequest::default().with_users(names.map(|n| {
                n.into_iter()
                    .map(|u| UserName::default().with_name(s(u)))
                    .collect()
            }))
        };
        for all in [users(None), users(Some(vec![]))] {
            let r: DescribeUserScramCredentialsResponse =
                client.call(ApiKey::DescribeUserScramCredentials, 0, &all)?;
            assert_eq!(r.error_code, 0);
            assert!(r.results.is_empty());
        }
        let named: DescribeUserScramCredentialsResponse = client.call(
            ApiKey::DescribeUserScramCredentials,
            0,
            &users(Some(vec!["alice", "bob", "alice"])),
        )?;
        let mut got: Vec<(String, i16, Option<String>, usize)> = named
            .results
            .iter()
            .map(|r| {
                (
                    r.user.to_string(),
                    r.error_code,
                    text(&r.error_message),
                    r.credential_infos.len(),
                )
            })
            .collect();
        got.sort();
        assert_eq!(
            got,
            vec![
                (
                    "alice".into(),
                    DUPLICATE_RESOURCE,
                    Some("Cannot describe SCRAM credentials for the same user twice in a single request: alice".into()),
                    0
                ),
                (
                    "bob".into(),
                    RESOURCE_NOT_FOUND,
                    Some("Attempt to describe a user credential that does not exist: bob".into()),
                    0
                ),
            ]
        );
        Ok(())
    })
}
