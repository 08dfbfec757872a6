use std::time::Duration;

use monoio::time::Instant;

use super::*;

fn reconnect(attempts: Option<u32>) -> Reconnect {
    Reconnect {
        attempts,
        first: Duration::from_millis(100),
        max: Duration::from_millis(500),
        failures: 0,
        backoff: Duration::from_millis(100),
    }
}

fn ms(n: u64) -> AfterLoss {
    AfterLoss::Wait(Duration::from_millis(n))
}

#[test]
fn backoff_doubles_up_to_its_maximum_while_attempts_fail() {
    let mut pacing = reconnect(None);
    let waits: Vec<AfterLoss> = (0..6).map(|_| pacing.after_loss(false)).collect();
    assert_eq!(
        waits,
        [ms(100), ms(200), ms(400), ms(500), ms(500), ms(500)]
    );
}

#[test]
fn a_connection_that_got_its_connack_starts_the_backoff_and_the_count_over() {
    let mut pacing = reconnect(Some(2));
    assert_eq!(pacing.after_loss(false), ms(100));
    assert_eq!(pacing.after_loss(false), ms(200));
    // Connected, then lost: two more reconnects are allowed, from the first pause.
    assert_eq!(pacing.after_loss(true), ms(100));
    assert_eq!(pacing.after_loss(false), ms(200));
    assert_eq!(pacing.after_loss(false), AfterLoss::GiveUp);
}

#[test]
fn reconnect_attempts_bound_the_reconnects_after_the_first_failure() {
    let mut pacing = reconnect(Some(2));
    assert_eq!(pacing.after_loss(false), ms(100));
    assert_eq!(pacing.after_loss(false), ms(200));
    assert_eq!(pacing.after_loss(false), AfterLoss::GiveUp);
    // Zero attempts: never reconnect.
    assert_eq!(reconnect(Some(0)).after_loss(false), AfterLoss::GiveUp);
    assert_eq!(reconnect(Some(0)).after_loss(true), AfterLoss::GiveUp);
}

#[test]
fn pings_go_out_every_interval_while_the_broker_answers() {
    let start = Instant::now();
    let second = Duration::from_secs(1);
    let mut keep_alive = KeepAlive::new(second, start);
    assert_eq!(keep_alive.next_ping(), Some(start + second));
    // First ping: nothing sent before, so nothing is missing.
    assert_eq!(keep_alive.on_timer(start + second, start), PingStep::Ping);
    assert_eq!(keep_alive.next_ping(), Some(start + 2 * second));
    // The PINGRESP (or anything) came after the ping: the next one goes out.
    let heard = start + second + Duration::from_millis(5);
    assert_eq!(
        keep_alive.on_timer(start + 2 * second, heard),
        PingStep::Ping
    );
    assert_eq!(keep_alive.next_ping(), Some(start + 3 * second));
}

#[test]
fn a_ping_unanswered_for_a_whole_interval_means_the_broker_is_gone() {
    let start = Instant::now();
    let second = Duration::from_secs(1);
    let mut keep_alive = KeepAlive::new(second, start);
    assert_eq!(keep_alive.on_timer(start + second, start), PingStep::Ping);
    // Last heard before that ping was sent.
    let heard = start + Duration::from_millis(500);
    assert_eq!(
        keep_alive.on_timer(start + 2 * second, heard),
        PingStep::Unanswered
    );
}

#[test]
fn a_zero_interval_turns_keep_alive_off() {
    let keep_alive = KeepAlive::new(Duration::ZERO, Instant::now());
    assert_eq!(keep_alive.next_ping(), None);
}
