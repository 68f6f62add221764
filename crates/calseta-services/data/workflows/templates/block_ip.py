"""Block an IP: adds the indicator's address to a firewall's blocklist over its REST API."""
from app.workflows.context import WorkflowContext, WorkflowResult

# Your firewall's blocklist API. Its key is the workflow secret FIREWALL_API_KEY, which an admin
# stores (Settings, workflow secrets) and grants to this workflow.
FIREWALL_URL = "https://firewall.example.com/api/v1/blocklist"
BLOCK_HOURS = 24


async def run(ctx: WorkflowContext) -> WorkflowResult:
    if ctx.indicator.type != "ip":
        return WorkflowResult.fail(f"Only IP indicators can be blocked, not {ctx.indicator.type}")
    address = ctx.indicator.value
    try:
        api_key = ctx.secrets["FIREWALL_API_KEY"]
    except Exception as exc:
        return WorkflowResult.fail(f"The workflow secret FIREWALL_API_KEY cannot be read: {exc}")
    comment = f"Calseta: {ctx.alert.title}" if ctx.alert else "Calseta"
    response = await ctx.http.post(
        FIREWALL_URL,
        json={"address": address, "comment": comment, "ttl_hours": BLOCK_HOURS},
        headers={"Authorization": f"Bearer {api_key}"},
    )
    if not response.is_success:
        ctx.log.error("block refused", address=address, status=response.status_code)
        return WorkflowResult.fail(f"The firewall refused to block {address}: HTTP {response.status_code}")
    ctx.log.info("blocked", address=address, hours=BLOCK_HOURS)
    return WorkflowResult.ok(
        f"{address} blocked for {BLOCK_HOURS} hours",
        data={"address": address, "ttl_hours": BLOCK_HOURS},
    )
