"""Entra — Force MFA Re-registration: Deletes every authentication method of the user except their password, so that they register MFA again."""
from app.workflows.context import WorkflowContext, WorkflowResult


async def run(ctx: WorkflowContext) -> WorkflowResult:
    client = ctx.integrations.entra
    if client is None:
        return WorkflowResult.fail("Microsoft Entra integration is not configured")
    account = ctx.indicator.value
    try:
        await client.reset_mfa(account)
    except Exception as exc:
        ctx.log.error("reset_mfa failed", account=account, error=str(exc))
        return WorkflowResult.fail(f"reset_mfa failed for {account}: {exc}")
    ctx.log.info("reset_mfa done", account=account)
    return WorkflowResult.ok(f"Force MFA Re-registration: done for {account}", data={"account": account})
