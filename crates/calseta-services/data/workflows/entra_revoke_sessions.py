"""Entra — Revoke Sign-in Sessions: Revokes the Microsoft Entra ID user's refresh tokens and session cookies."""
from app.workflows.context import WorkflowContext, WorkflowResult


async def run(ctx: WorkflowContext) -> WorkflowResult:
    client = ctx.integrations.entra
    if client is None:
        return WorkflowResult.fail("Microsoft Entra integration is not configured")
    account = ctx.indicator.value
    try:
        await client.revoke_sessions(account)
    except Exception as exc:
        ctx.log.error("revoke_sessions failed", account=account, error=str(exc))
        return WorkflowResult.fail(f"revoke_sessions failed for {account}: {exc}")
    ctx.log.info("revoke_sessions done", account=account)
    return WorkflowResult.ok(f"Revoke Sign-in Sessions: done for {account}", data={"account": account})
