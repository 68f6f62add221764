"""Okta — Suspend User: Suspends the Okta user: they cannot sign in until unsuspended."""
from app.workflows.context import WorkflowContext, WorkflowResult


async def run(ctx: WorkflowContext) -> WorkflowResult:
    client = ctx.integrations.okta
    if client is None:
        return WorkflowResult.fail("Okta integration is not configured")
    account = ctx.indicator.value
    try:
        await client.suspend_user(account)
    except Exception as exc:
        ctx.log.error("suspend_user failed", account=account, error=str(exc))
        return WorkflowResult.fail(f"suspend_user failed for {account}: {exc}")
    ctx.log.info("suspend_user done", account=account)
    return WorkflowResult.ok(f"Suspend User: done for {account}", data={"account": account})
