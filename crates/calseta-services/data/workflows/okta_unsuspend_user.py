"""Okta — Unsuspend User: Lifts a suspension of the Okta user."""
from app.workflows.context import WorkflowContext, WorkflowResult


async def run(ctx: WorkflowContext) -> WorkflowResult:
    client = ctx.integrations.okta
    if client is None:
        return WorkflowResult.fail("Okta integration is not configured")
    account = ctx.indicator.value
    try:
        await client.unsuspend_user(account)
    except Exception as exc:
        ctx.log.error("unsuspend_user failed", account=account, error=str(exc))
        return WorkflowResult.fail(f"unsuspend_user failed for {account}: {exc}")
    ctx.log.info("unsuspend_user done", account=account)
    return WorkflowResult.ok(f"Unsuspend User: done for {account}", data={"account": account})
