//! Polling and cron schedules: every few seconds, trigger the configs
//! whose branch head moved or whose schedule came due. Triggers go to the
//! store (`steps::configs::trigger`); the wave driver takes it from there.

use crate::Services;
use crate::error::ApiError;
use jiff::Timestamp;
use slipway_core::rebuild::image_config::{Schedule, parse_interval};
use slipway_core::rebuild::trigger::Trigger;
use std::sync::Arc;
use std::time::Duration;

/// How often the poll and schedule loop looks at the configs.
const TRIGGER_TICK: Duration = Duration::from_secs(5);

/// Polling, cron schedules, rescans and package tracking: every few
/// seconds, trigger the configs whose branch head moved, whose schedule
/// came due, or whose tracked repositories have newer packages.
pub async fn run(services: Arc<Services>) {
    loop {
        if super::leases::leads(&services, "timers", Duration::from_secs(60)).await
            && let Err(e) = tick_timers(&services).await
        {
            tracing::error!("rebuild timers: {}", e.message);
        }
        // Each tick reads every config: hand what it freed back.
        crate::memory::give_back();
        tokio::time::sleep(TRIGGER_TICK).await;
    }
}

async fn tick_timers(services: &Arc<Services>) -> Result<(), ApiError> {
    let now = Timestamp::now();
    let configs = services.store.list_configs().await?;
    for s in &configs {
        let c = &s.config;
        let mut polled = false;
        if let Some(interval) = c
            .triggers
            .poll
            .as_deref()
            .and_then(|p| parse_interval(p).ok())
            && s.next_poll_at.is_none_or(|t| t <= now)
        {
            let head = match c.spec(Some(&services.default_registry)) {
                Ok(spec) => {
                    slipway_source::resolve(&spec.source.location, Some(&c.source.branch)).await
                }
                Err(e) => {
                    tracing::warn!("config {}: {e}", c.name);
                    continue;
                }
            };
            let next = now.checked_add(interval).ok();
            match head {
                Ok(r) => {
                    if let Some(old) = &s.poll_head
                        && *old != r.commit
                    {
                        crate::steps::configs::trigger(
                            services,
                            &c.name,
                            Trigger::Poll {
                                commit: r.commit.clone(),
                            },
                            false,
                        )
                        .await?;
                        polled = true;
                    }
                    services
                        .store
                        .set_poll_state(&c.name, Some(&r.commit), next)
                        .await?;
                }
                Err(e) => {
                    tracing::warn!("config {}: polling {}: {e}", c.name, c.source.branch);
                    services.store.set_poll_state(&c.name, None, next).await?;
                }
            }
        }
        if let Some(sched) = &c.triggers.schedule
            && let Ok(parsed) = Schedule::parse(&sched.cron, &sched.timezone)
        {
            match s.next_schedule_at {
                None => {
                    services
                        .store
                        .set_next_schedule(&c.name, parsed.next_after(now))
                        .await?;
                }
                // A poll that just found a new commit covers a schedule
                // coming due in the same tick: one wave, by the commit.
                Some(due) if due <= now && polled => {
                    services
                        .store
                        .set_next_schedule(&c.name, parsed.next_after(now))
                        .await?;
                }
                Some(due) if due <= now => {
                    crate::steps::configs::trigger(
                        services,
                        &c.name,
                        Trigger::Schedule {
                            cron: sched.cron.clone(),
                            timezone: sched.timezone.clone(),
                        },
                        false,
                    )
                    .await?;
                    services
                        .store
                        .set_next_schedule(&c.name, parsed.next_after(now))
                        .await?;
                }
                Some(_) => {}
            }
        }
    }
    Ok(())
}
