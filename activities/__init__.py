"""One module per pipeline step; each holds its activity in a Durable blueprint."""

from activities import (
    bookkeeping,
    compute_recommendations,
    fetch_trends,
    publish_briefing,
    render_video,
    render_video_cloud,
    scrape_competitors,
    social_signals,
    synthesize_speech,
    sync_catalogue,
    sync_shopify,
    update_costs,
    write_script,
)

BLUEPRINTS = [
    bookkeeping.bp,
    sync_shopify.bp,
    sync_catalogue.bp,
    update_costs.bp,
    scrape_competitors.bp,
    fetch_trends.bp,
    social_signals.bp,
    compute_recommendations.bp,
    write_script.bp,
    synthesize_speech.bp,
    render_video.bp,
    render_video_cloud.bp,
    publish_briefing.bp,
]
