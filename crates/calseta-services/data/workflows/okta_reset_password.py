"""Okta — Reset Password: Starts an Okta password reset for the user (an email is sent to them)."""
from app.workflows.context import WorkflowContext, WorkflowResult


async def run(ctx: WorkflowContext) -> WorkflowResult:
    client = ctx.integrations.okta
    if client is None:
        return WorkflowResult.fail("Okta integration is not configured")
    account = ctx.indicator.value
    try:
        reset_url = await client.reset_password(account)
    except Exception as exc:
        ctx.log.error("reset_password failed", account=account, error=str(exc))
        return WorkflowResult.fail(f"reset_password failed for {account}: {exc}")
    ctx.log.info("reset_password done", account=account)
    data = {"account": account}
    if reset_url:
        data["reset_url"] = reset_url
    return WorkflowResult.ok(f"Password reset started for {account}", data=data)
