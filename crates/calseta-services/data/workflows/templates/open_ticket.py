"""Open a ticket: files an issue about the indicator (and its alert) in the ticketing system."""
from app.workflows.context import WorkflowContext, WorkflowResult

# Your ticketing system's issue API (Jira's shape). Its token is the workflow secret
# TICKET_API_TOKEN, which an admin stores and grants to this workflow.
TICKET_URL = "https://tickets.example.com/rest/api/2/issue"
PROJECT = "SEC"


async def run(ctx: WorkflowContext) -> WorkflowResult:
    try:
        token = ctx.secrets["TICKET_API_TOKEN"]
    except Exception as exc:
        return WorkflowResult.fail(f"The workflow secret TICKET_API_TOKEN cannot be read: {exc}")
    indicator = f"{ctx.indicator.type} {ctx.indicator.value}"
    summary = f"Investigate {indicator}"
    lines = [f"Indicator: {indicator} (verdict: {ctx.indicator.malice})"]
    if ctx.alert:
        summary = f"{ctx.alert.title} — {indicator}"
        lines.append(f"Alert: {ctx.alert.title} (severity {ctx.alert.severity}, id {ctx.alert.uuid})")
    issue = {"fields": {"project": {"key": PROJECT}, "issuetype": {"name": "Task"},
                        "summary": summary[:250], "description": "\n".join(lines)}}
    created = await ctx.http.post(TICKET_URL, json=issue, headers={"Authorization": f"Bearer {token}"})
    if not created.is_success:
        return WorkflowResult.fail(f"The ticketing system refused the issue: HTTP {created.status_code}")
    key = created.json().get("key", "")
    ctx.log.info("ticket opened", ticket=key)
    return WorkflowResult.ok(f"Ticket {key} opened", data={"ticket": key})
