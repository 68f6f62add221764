"""Okta — Revoke All Sessions: Signs the user out of every Okta session and revokes their refresh tokens."""
from app.workflows.context import WorkflowContext, WorkflowResult


async def run(ctx: WorkflowContext) -> WorkflowResult:
    client = ctx.integrations.okta
    if client is None:
        return WorkflowResult.fail("Okta integration is not configured")
    account = ctx.indicator.value
    try:
        await client.revoke_sessions(account)
    except Exception as exc:
        ctx.log.error("revoke_sessions failed", account=account, error=str(exc))
        return WorkflowResult.fail(f"revoke_sessions failed for {account}: {exc}")
    ctx.log.info("revoke_sessions done", account=account)
    return WorkflowResult.ok(f"Revoke All Sessions: done for {account}", data={"account": account})
