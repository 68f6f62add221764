"""Okta — Force Password Expiry: Expires the user's Okta password: they must change it at their next sign-in."""
from app.workflows.context import WorkflowContext, WorkflowResult


async def run(ctx: WorkflowContext) -> WorkflowResult:
    client = ctx.integrations.okta
    if client is None:
        return WorkflowResult.fail("Okta integration is not configured")
    account = ctx.indicator.value
    try:
        await client.expire_password(account)
    except Exception as exc:
        ctx.log.error("expire_password failed", account=account, error=str(exc))
        return WorkflowResult.fail(f"expire_password failed for {account}: {exc}")
    ctx.log.info("expire_password done", account=account)
    return WorkflowResult.ok(f"Force Password Expiry: done for {account}", data={"account": account})
