"""Post to a channel: tells the team about the indicator through a chat incoming webhook."""
from app.workflows.context import WorkflowContext, WorkflowResult


async def run(ctx: WorkflowContext) -> WorkflowResult:
    # The incoming webhook's URL is a credential: the workflow secret CHAT_WEBHOOK_URL, which an
    # admin stores and grants to this workflow (Slack and Teams webhooks both take {"text": ...}).
    try:
        webhook = ctx.secrets["CHAT_WEBHOOK_URL"]
    except Exception as exc:
        return WorkflowResult.fail(f"The workflow secret CHAT_WEBHOOK_URL cannot be read: {exc}")
    text = f"Calseta: {ctx.indicator.type} {ctx.indicator.value} (verdict: {ctx.indicator.malice})"
    if ctx.alert:
        text += f" in alert \"{ctx.alert.title}\" ({ctx.alert.severity})"
    posted = await ctx.http.post(webhook, json={"text": text})
    if not posted.is_success:
        return WorkflowResult.fail(f"The chat webhook refused the message: HTTP {posted.status_code}")
    ctx.log.info("posted to the channel")
    return WorkflowResult.ok("Posted to the channel", data={"text": text})
