//! DescribeClientQuotas: Gregor keeps no client quotas, so the answer is Kafka's for a cluster
//! that has none: no quota entries (after the filter checks Kafka's `ClientQuotasImage.describe`
//! makes). AlterClientQuotas is not served. SCRAM users are in `scram_credentials`.

use std::collections::HashSet;

use gregor_protocol::messages::describe_client_quotas_request::ComponentData;
use gregor_protocol::messages::{DescribeClientQuotasRequest, DescribeClientQuotasResponse};
use gregor_protocol::{ResponseError, StrBytes};

use crate::error::KafkaError;

/// Kafka's quota entity types (`ClientQuotaEntity`).
const ENTITY_TYPES: [&str; 3] = ["user", "client-id", "ip"];

/// `ComponentData.match_type` values.
const MATCH_TYPE_EXACT: i8 = 0;
const MATCH_TYPE_DEFAULT: i8 = 1;
const MATCH_TYPE_SPECIFIED: i8 = 2;

/// Handles DescribeClientQuotas.
pub fn describe_client_quotas(
    request: &DescribeClientQuotasRequest,
) -> DescribeClientQuotasResponse {
    match check_filter(&request.components) {
        Ok(()) => DescribeClientQuotasResponse::default().with_entries(Some(vec![])),
        Err(e) => DescribeClientQuotasResponse::default()
            .with_error_code(e.code())
            .with_error_message(e.message.map(StrBytes::from_string))
            .with_entries(None),
    }
}

/// The checks of Kafka's `ClientQuotasImage.describe`, in its order and with its messages.
fn check_filter(components: &[ComponentData]) -> Result<(), KafkaError> {
    let invalid =
        |message: String| KafkaError::with_message(ResponseError::InvalidRequest, message);
    let mut seen: HashSet<&str> = HashSet::new();
    for c in components {
        let entity = c.entity_type.as_str();
        if entity.is_empty() {
            return Err(invalid("Invalid empty entity type.".into()));
        }
        if !seen.insert(entity) {
            return Err(invalid(format!(
                "Entity type {entity} cannot appear more than once in the filter."
            )));
        }
        if !ENTITY_TYPES.contains(&entity) {
            return Err(KafkaError::with_message(
                ResponseError::UnsupportedVersion,
                format!("Unsupported entity type {entity}"),
            ));
        }
        match (c.match_type, &c._match) {
            (MATCH_TYPE_EXACT, None) => {
                return Err(invalid(
                    "Request specified MATCH_TYPE_EXACT, but set match string to null.".into(),
                ))
            }
            (MATCH_TYPE_DEFAULT, Some(_)) => {
                return Err(invalid(
                    "Request specified MATCH_TYPE_DEFAULT, but also specified a match string."
                        .into(),
                ))
            }
            (MATCH_TYPE_SPECIFIED, Some(_)) => {
                return Err(invalid(
                    "Request specified MATCH_TYPE_SPECIFIED, but also specified a match string."
                        .into(),
                ))
            }
            (MATCH_TYPE_EXACT..=MATCH_TYPE_SPECIFIED, _) => {}
            (other, _) => return Err(invalid(format!("Unknown match type {other}"))),
        }
    }
    if seen.contains("ip") && (seen.contains("user") || seen.contains("client-id")) {
        return Err(invalid(
            "Invalid entity filter component combination. IP filter component should not be \
             used with user or clientId filter component."
                .into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn component(entity: &str, match_type: i8, m: Option<&str>) -> ComponentData {
        ComponentData::default()
            .with_entity_type(StrBytes::from_string(entity.into()))
            .with_match_type(match_type)
            .with_match(m.map(|m| StrBytes::from_string(m.into())))
    }

    #[test]
    fn quota_filters_are_checked_as_kafka_checks_them() {
        let ok = DescribeClientQuotasRequest::default().with_components(vec![component(
            "user",
            MATCH_TYPE_EXACT,
            Some("alice"),
        )]);
        assert_eq!(describe_client_quotas(&ok).entries, Some(vec![]));
        let cases = [
            (
                vec![component("", 0, Some("a"))],
                ResponseError::InvalidRequest,
            ),
            (
                vec![component("user", 2, None), component("user", 2, None)],
                ResponseError::InvalidRequest,
            ),
            (
                vec![component("topic", 2, None)],
                ResponseError::UnsupportedVersion,
            ),
            (
                vec![component("user", 0, None)],
                ResponseError::InvalidRequest,
            ),
            (
                vec![component("user", 1, Some("a"))],
                ResponseError::InvalidRequest,
            ),
            (
                vec![component("user", 7, None)],
                ResponseError::InvalidRequest,
            ),
            (
                vec![component("ip", 2, None), component("user", 2, None)],
                ResponseError::InvalidRequest,
            ),
        ];
        for (components, code) in cases {
            let response = describe_client_quotas(
                &DescribeClientQuotasRequest::default().with_components(components.clone()),
            );
            assert_eq!(response.error_code, code.code(), "{components:?}");
            assert!(response.entries.is_none());
            assert!(response.error_message.is_some());
        }
    }
}
