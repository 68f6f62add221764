"""Disable an account: finds the user in the identity provider over SCIM 2.0 and sets it inactive."""
from app.workflows.context import WorkflowContext, WorkflowResult

# Your identity provider's SCIM 2.0 base URL. Its bearer token is the workflow secret
# SCIM_TOKEN, which an admin stores and grants to this workflow.
SCIM_URL = "https://idp.example.com/scim/v2"


async def run(ctx: WorkflowContext) -> WorkflowResult:
    if ctx.indicator.type not in ("account", "email"):
        return WorkflowResult.fail(f"Only account and email indicators name a user, not {ctx.indicator.type}")
    account = ctx.indicator.value
    try:
        token = ctx.secrets["SCIM_TOKEN"]
    except Exception as exc:
        return WorkflowResult.fail(f"The workflow secret SCIM_TOKEN cannot be read: {exc}")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
    found = await ctx.http.get(f"{SCIM_URL}/Users", params={"filter": f'userName eq "{account}"'}, headers=headers)
    if not found.is_success:
        return WorkflowResult.fail(f"The user lookup failed: HTTP {found.status_code}")
    users = found.json().get("Resources", [])
    if not users:
        return WorkflowResult.fail(f"No user {account} in the identity provider")
    user_id = users[0]["id"]
    patch = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": False}],
    }
    disabled = await ctx.http.patch(f"{SCIM_URL}/Users/{user_id}", json=patch, headers=headers)
    if not disabled.is_success:
        ctx.log.error("disable refused", user_id=user_id, status=disabled.status_code)
        return WorkflowResult.fail(f"The identity provider refused to disable {account}: HTTP {disabled.status_code}")
    ctx.log.info("account disabled", account=account, user_id=user_id)
    return WorkflowResult.ok(f"Account {account} disabled", data={"account": account, "user_id": user_id})
