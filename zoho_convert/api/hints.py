"""The resolution the Zoho documentation gives for each error code (shown in every error).

Built from the four seed pages, plus INVALID_TOKEN / TOO_MANY_REQUESTS, the two codes the
official SDK adds, and the codes Zoho's OpenAPI v8 specs add for these endpoints.
"""

from __future__ import annotations

__all__ = ["HINTS"]

HINTS: dict[str, str] = {
    "MANDATORY_NOT_FOUND": (
        "specify all the mandatory fields in the input body (ids, convert_to, carry_over_tags, "
        "module)"
    ),
    "INVALID_DATA": (
        "check the record ids, the job id, the data types and the module names in the request"
    ),
    "NO_PERMISSION": (
        "enable permission for the parent and child modules in Organize Modules and in the "
        "profile's Convert / Mass Convert permissions"
    ),
    "AMBIGUITY_DURING_PROCESSING": (
        "the module id given in convert_to does not belong to that module; pass the target "
        "module's own id from the Modules API"
    ),
    "LIMIT_EXCEEDED": (
        "send at most 50 record ids in one mass convert call"
    ),
    "EXPECTED_FIELD_MISSING": (
        "the convert_to array must be present and not empty"
    ),
    "INVALID_REQUEST_METHOD": (
        "use the HTTP method the endpoint documents"
    ),
    "INVALID_MODULE": (
        "specify a valid module API name (Quotes, Sales_Orders, Leads)"
    ),
    "OAUTH_SCOPE_MISMATCH": (
        "generate a token with the required scopes, e.g. ZohoCRM.mass_convert.Quotes.CREATE and "
        "ZohoCRM.mass_convert.Quotes.READ"
    ),
    "AUTHENTICATION_FAILURE": (
        "pass a valid access token in the Authorization header"
    ),
    "INVALID_TOKEN": (
        "the access token is expired or revoked; refresh it with the refresh token"
    ),
    "INVALID_URL_PATTERN": (
        "the request URL is incorrect; check the API domain, version and path"
    ),
    "INTERNAL_ERROR": (
        "unexpected error on Zoho's side; retry later or contact Zoho support"
    ),
    "INTERNAL_SERVER_ERROR": (
        "unexpected error on Zoho's side; retry later or contact Zoho support"
    ),
    "REQUIRED_PARAM_MISSING": (
        "the job_id parameter is missing; specify a valid job id"
    ),
    "ID_ALREADY_CONVERTED": (
        "the record has already been converted; leave it out"
    ),
    "NOT_APPROVED": (
        "the record is still in an approval process; convert it once it is approved"
    ),
    "NOT_REVIEWED": (
        "the record is still in a review process; convert it once it is reviewed"
    ),
    "DUPLICATE_DATA": (
        "a record with the same unique field value already exists in the target module"
    ),
    "AUTHORIZATION_FAILED": (
        "the user lacks the privilege to create records; ask your Zoho administrator"
    ),
    "RECORD_LOCKED": (
        "the record is locked; wait until it is unlocked and try again"
    ),
    "TOO_MANY_REQUESTS": (
        "too many requests in flight for your edition; back off and retry"
    ),
    "LIMIT_REACHED": (
        "the API credit or mass-convert limit is reached; wait and retry later"
    ),
    "MAPPING_MISMATCH": (
        "the Deals Stage does not belong to the given Pipeline; pass a Stage of that Pipeline"
    ),
    "NOT_ALLOWED": (
        "the operation is not allowed on this record or module; see the details for the reason"
    ),
    "REQUIRED_DATA_NOT_FOUND": (
        "a value the request depends on is missing; see the details for the field"
    ),
    "API_NOT_SUPPORTED": (
        "this API version does not support the call; use the supported_version in the details"
    ),
}
