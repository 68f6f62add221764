"""Entra — Disable Account: Disables the Microsoft Entra ID account (`accountEnabled: false`)."""
from app.workflows.context import WorkflowContext, WorkflowResult


async def run(ctx: WorkflowContext) -> WorkflowResult:
    client = ctx.integrations.entra
    if client is None:
        return WorkflowResult.fail("Microsoft Entra integration is not configured")
    account = ctx.indicator.value
    try:
        await client.disable_account(account)
    except Exception as exc:
        ctx.log.error("disable_account failed", account=account, error=str(exc))
        return WorkflowResult.fail(f"disable_account failed for {account}: {exc}")
    ctx.log.info("disable_account done", account=account)
    return WorkflowResult.ok(f"Disable Account: done for {account}", data={"account": account})
