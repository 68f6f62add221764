"""Entra — Enable Account: Enables a disabled Microsoft Entra ID account (`accountEnabled: true`)."""
from app.workflows.context import WorkflowContext, WorkflowResult


async def run(ctx: WorkflowContext) -> WorkflowResult:
    client = ctx.integrations.entra
    if client is None:
        return WorkflowResult.fail("Microsoft Entra integration is not configured")
    account = ctx.indicator.value
    try:
        await client.enable_account(account)
    except Exception as exc:
        ctx.log.error("enable_account failed", account=account, error=str(exc))
        return WorkflowResult.fail(f"enable_account failed for {account}: {exc}")
    ctx.log.info("enable_account done", account=account)
    return WorkflowResult.ok(f"Enable Account: done for {account}", data={"account": account})
