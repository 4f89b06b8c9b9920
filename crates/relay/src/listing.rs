//! What the signed listings of a campaign's rows share (`GET /v1/campaigns/{id}/appeals`,
//! `/verdicts`): the page size asked for, the campaign's owner, and the cursor of the next page.
//! A leaf: handlers use it, it uses only the database and the error type.

use crate::db::Conn;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::params;

/// The page size: `asked`, or `default` when none was, refused unless 1 to `most`.
pub fn limit(asked: Option<i64>, default: i64, most: i64) -> ApiResult<i64> {
    let limit = asked.unwrap_or(default);
    if !(1..=most).contains(&limit) {
        return Err(ApiError::unprocessable(
            ErrorCode::InvalidLimit,
            format!("limit: 1 to {most}"),
        ));
    }
    Ok(limit)
}

/// The owner (a database address) of campaign `id`; 404 `no_campaign` when there is none.
pub fn campaign_owner(conn: &mut dyn Conn, id: &str) -> ApiResult<String> {
    conn.query_opt("SELECT owner FROM campaigns WHERE id = $1", params![id])?
        .ok_or_else(|| ApiError::not_found(ErrorCode::NoCampaign, format!("no campaign {id:?}")))?
        .text(0)
        .map_err(Into::into)
}

/// The `after` of the next page: the last row's key when the page is full (there may be more),
/// none when it is not.
pub fn next_after(rows: usize, limit: i64, last: Option<String>) -> Option<String> {
    (i64::try_from(rows).unwrap_or(0) == limit)
        .then_some(last)
        .flatten()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn limits_default_and_stay_in_range() {
        assert_eq!(limit(None, 100, 500).unwrap(), 100);
        assert_eq!(limit(Some(500), 100, 500).unwrap(), 500);
        assert_eq!(limit(Some(1), 100, 500).unwrap(), 1);
        for bad in [0, -1, 501, i64::MAX] {
            let error = limit(Some(bad), 100, 500).unwrap_err();
            assert_eq!(error.code, ErrorCode::InvalidLimit);
        }
    }

    #[test]
    fn a_next_page_only_after_a_full_one() {
        assert_eq!(next_after(3, 3, Some("c".into())), Some("c".into()));
        assert_eq!(next_after(2, 3, Some("b".into())), None);
        assert_eq!(next_after(0, 3, None), None);
    }
}
