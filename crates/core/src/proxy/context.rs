//! The response context of a stateful proxy (RFC 3261 §16.7), sans-IO:
//! it is told what each branch answers, what fails, when the caller
//! cancels and what time it is, and it says what to do — start a branch,
//! send a response upstream, cancel a branch. Time is an argument, so
//! every timer path is tested without sleeping.
//!
//! - Branches start by `q` group, highest first (§16.6, sequential
//!   search); all targets of a group are tried in parallel, and the next
//!   group starts when every branch of this one failed without a 6xx.
//! - Provisional responses but `100` go upstream at once; every 2xx goes
//!   upstream, the INVITE's more than once (the forks' and the
//!   retransmitted ones, step 5).
//! - With no 2xx, the best final goes upstream once every branch has
//!   ended: a 6xx, else the lowest class, preferring 401, 407, 415, 420
//!   and 484 among 4xx; a 503 becomes 500; the challenges of every 401 and
//!   407 are merged into the one sent (steps 6 and 7).
//! - A 2xx or a 6xx to an INVITE, and the caller's CANCEL, cancel the
//!   branches still pending (§16.7 step 10, §16.10); a branch is cancelled
//!   only once it has had a provisional response (§9.1). After the
//!   caller's CANCEL the answer is 487.
//! - Timer C (§16.6 step 11) runs per INVITE branch and restarts on each
//!   101–199; when it fires, a branch that has had a provisional response
//!   is cancelled (and its 487 counts as 408), one that has not counts as
//!   having answered 408. A cancelled branch that still does not answer
//!   within `cancel_wait` (64×T1, §9.1) counts as 408 too, and its client
//!   transaction is given up.
//! - A timeout counts as 408, a transport failure as 503 (§16.8, §16.9).
//! - A ring timeout ([`ResponseContext::ring_until`], a dialplan's `Dial`
//!   timeout) ends the whole attempt at once: ringing branches are
//!   cancelled, silent ones given up, and the answer is 480, no answer
//!   (Q.850 cause 19, as Asterisk's `Dial` reports it).

use std::time::{Duration, Instant};

use sipjet_message::{HeaderName, Message, Method};

/// What the proxy must do.
#[derive(Debug, Clone)]
pub enum Action {
    /// Send the request to target `n` (of the targets the context was made
    /// with): a new branch.
    Start(usize),
    /// Send this response upstream through the server transaction.
    Respond(Message),
    /// Send a CANCEL for branch `n`.
    Cancel(usize),
    /// Give up on branch `n`'s client transaction: cancelled, it did not
    /// answer within `cancel_wait` (RFC 3261 §9.1).
    Abandon(usize),
}

/// How a branch failed without a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BranchFailure {
    /// Its client transaction timed out (Timer B or F): as a 408.
    Timeout,
    /// The transport could not send it: as a 503.
    Transport,
}

/// The timers of a context.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContextTimers {
    /// Timer C: how long an INVITE branch may go without a provisional
    /// response (RFC 3261: more than 3 minutes).
    pub timer_c: Duration,
    /// How long a cancelled branch may go without a final response before
    /// it counts as 408 (64×T1).
    pub cancel_wait: Duration,
}

impl Default for ContextTimers {
    fn default() -> Self {
        ContextTimers {
            timer_c: Duration::from_secs(181),
            cancel_wait: Duration::from_secs(32),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    NotStarted,
    Calling,
    Done,
}

#[derive(Debug)]
struct Branch {
    state: State,
    /// A provisional response arrived: it may be cancelled.
    provisional: bool,
    /// It is to be cancelled as soon as it may be.
    cancel_wanted: bool,
    cancel_sent: bool,
    /// Timer C fired: whatever final it sends counts as 408.
    timed_out: bool,
    /// Timer C, or after a CANCEL the end of `cancel_wait`.
    deadline: Option<Instant>,
}

/// One request's response context.
#[derive(Debug)]
pub struct ResponseContext {
    /// What generated responses are built from; dropped by
    /// [`ResponseContext::release`]. Boxed, so that a context released
    /// while its transactions wait out Timer L/M is small.
    request: Option<Box<Message>>,
    invite: bool,
    timers: ContextTimers,
    /// Target numbers by `q` group, the group to start first first.
    groups: Vec<Vec<usize>>,
    next_group: usize,
    branches: Vec<Branch>,
    /// The final non-2xx responses of the branches (and the ones a
    /// failure stands for), in the order they came.
    finals: Vec<Message>,
    /// A final response went upstream.
    final_sent: bool,
    /// No branch may start any more (a 2xx or a 6xx came, or the caller
    /// cancelled).
    closed: bool,
    cancelled_by_caller: bool,
    /// When the whole attempt stops ringing, if it has a limit.
    ring_deadline: Option<Instant>,
    /// The ring timeout fired before any answer.
    rang_out: bool,
}

impl ResponseContext {
    /// A context for `request` (as received, with its Via on top), whose
    /// targets have these `q` values (`None` ranks as 1.0); the actions
    /// start the first group.
    pub fn new(
        request: Message,
        qs: &[Option<u16>],
        timers: ContextTimers,
        now: Instant,
    ) -> (ResponseContext, Vec<Action>) {
        let mut order: Vec<usize> = (0..qs.len()).collect();
        // Stable: equal q keeps the given order.
        order.sort_by_key(|&i| std::cmp::Reverse(qs[i].unwrap_or(1000)));
        let mut groups: Vec<Vec<usize>> = Vec::new();
        for i in order {
            match groups.last_mut() {
                Some(g) if qs[g[0]].unwrap_or(1000) == qs[i].unwrap_or(1000) => g.push(i),
                _ => groups.push(vec![i]),
            }
        }
        let invite = request.method() == Some(&Method::Invite);
        let mut ctx = ResponseContext {
            request: Some(Box::new(request)),
            invite,
            timers,
            groups,
            next_group: 0,
            branches: qs
                .iter()
                .map(|_| Branch {
                    state: State::NotStarted,
                    provisional: false,
                    cancel_wanted: false,
                    cancel_sent: false,
                    timed_out: false,
                    deadline: None,
                })
                .collect(),
            finals: Vec::new(),
            final_sent: false,
            closed: false,
            cancelled_by_caller: false,
            ring_deadline: None,
            rang_out: false,
        };
        let mut actions = Vec::new();
        ctx.settle(now, &mut actions);
        (ctx, actions)
    }

    /// Limits the whole attempt (every branch and group) to ringing until
    /// `at`: then the pending branches are ended and the answer is 480.
    pub fn ring_until(&mut self, at: Instant) {
        if !self.final_sent {
            self.ring_deadline = Some(at);
        }
    }

    /// True when the caller's CANCEL ended the attempt.
    pub fn was_cancelled(&self) -> bool {
        self.cancelled_by_caller
    }

    /// True when the ring timeout ended the attempt.
    pub fn rang_out(&self) -> bool {
        self.rang_out
    }

    /// The request the context forwards; `None` once released.
    pub fn request(&self) -> Option<&Message> {
        self.request.as_deref()
    }

    /// True once a final response went upstream and no branch is still
    /// waiting for one.
    pub fn is_finished(&self) -> bool {
        self.final_sent && self.branches.iter().all(|b| b.state != State::Calling)
    }

    /// Drops the request and the branches' final responses once the
    /// context is finished: they were only kept to choose and build the
    /// final response, and the context lives on for the transactions'
    /// wait states (a retransmitted 2xx still goes up).
    pub fn release(&mut self) {
        if self.is_finished() {
            self.finals = Vec::new();
            self.request = None;
        }
    }

    /// True once a final response went upstream.
    pub fn is_answered(&self) -> bool {
        self.final_sent
    }

    /// The earliest timer.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let ring = self
            .ring_deadline
            .filter(|_| !self.final_sent && !self.closed);
        self.branches
            .iter()
            .filter(|b| b.state == State::Calling)
            .filter_map(|b| b.deadline)
            .chain(ring)
            .min()
    }

    /// A response from branch `n`.
    pub fn on_response(&mut self, n: usize, mut response: Message, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        let Some(code) = response.status() else {
            return actions;
        };
        let Some(b) = self.branches.get_mut(n) else {
            return actions;
        };
        if response.remove_top_via().is_err() {
            return actions;
        }
        match code {
            100..=199 => {
                if b.state != State::Calling {
                    return actions;
                }
                b.provisional = true;
                if code > 100 && self.invite && !b.cancel_sent {
                    b.deadline = Some(now + self.timers.timer_c);
                }
                if code > 100 && !self.final_sent {
                    actions.push(Action::Respond(response));
                }
                self.cancel_if_wanted(n, now, &mut actions);
            }
            200..=299 => {
                b.state = State::Done;
                b.deadline = None;
                // Every 2xx to an INVITE goes up (§16.7 step 5); to any
                // other request, the first.
                if self.invite || !self.final_sent {
                    actions.push(Action::Respond(response));
                }
                self.final_sent = true;
                if self.invite {
                    self.close(now, &mut actions);
                }
            }
            _ => {
                if b.state != State::Calling {
                    return actions;
                }
                b.state = State::Done;
                b.deadline = None;
                if b.timed_out {
                    // Cancelled by Timer C: it did not answer in time.
                    self.finals.push(self.generated(408));
                } else {
                    self.finals.push(response);
                }
                if code >= 600 && self.invite {
                    self.close(now, &mut actions);
                }
                self.settle(now, &mut actions);
            }
        }
        actions
    }

    /// Branch `n` failed without a final response.
    pub fn on_failure(&mut self, n: usize, failure: BranchFailure, now: Instant) -> Vec<Action> {
        let code = match failure {
            BranchFailure::Timeout => 408,
            BranchFailure::Transport => 503,
        };
        self.end_branch(n, code, now)
    }

    /// The caller cancelled the request (§16.10).
    pub fn on_cancel(&mut self, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        if self.final_sent {
            return actions;
        }
        self.cancelled_by_caller = true;
        self.close(now, &mut actions);
        self.settle(now, &mut actions);
        actions
    }

    /// Fires the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        if !self.final_sent && !self.closed && self.ring_deadline.is_some_and(|d| d <= now) {
            self.ring_out(now, &mut actions);
            return actions;
        }
        for n in 0..self.branches.len() {
            let b = &mut self.branches[n];
            if b.state != State::Calling || b.deadline.is_none_or(|d| d > now) {
                continue;
            }
            if b.provisional && !b.cancel_sent {
                // Timer C with a provisional response: cancel it; its
                // answer will count as 408.
                b.cancel_wanted = true;
                b.timed_out = true;
                self.cancel_if_wanted(n, now, &mut actions);
            } else {
                // Timer C without one, or a CANCEL left unanswered.
                if b.cancel_sent {
                    actions.push(Action::Abandon(n));
                }
                actions.extend(self.end_branch(n, 408, now));
            }
        }
        actions
    }

    fn end_branch(&mut self, n: usize, code: u16, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        let Some(b) = self.branches.get_mut(n) else {
            return actions;
        };
        if b.state != State::Calling {
            return actions;
        }
        b.state = State::Done;
        b.deadline = None;
        self.finals.push(self.generated(code));
        self.settle(now, &mut actions);
        actions
    }

    /// The ring timeout: no new branches, the ringing ones cancelled (their
    /// answer counts as 408), the silent ones given up (they may not be
    /// cancelled before a provisional response, §9.1).
    fn ring_out(&mut self, now: Instant, actions: &mut Vec<Action>) {
        self.rang_out = true;
        self.ring_deadline = None;
        self.close(now, actions);
        for n in 0..self.branches.len() {
            let b = &mut self.branches[n];
            if b.state != State::Calling {
                continue;
            }
            b.timed_out = true;
            if !b.provisional {
                actions.push(Action::Abandon(n));
                actions.extend(self.end_branch(n, 408, now));
            }
        }
        self.settle(now, actions);
    }

    /// No new branches; the pending ones are cancelled.
    fn close(&mut self, now: Instant, actions: &mut Vec<Action>) {
        self.closed = true;
        if !self.invite {
            return;
        }
        for n in 0..self.branches.len() {
            if self.branches[n].state == State::Calling {
                self.branches[n].cancel_wanted = true;
                self.cancel_if_wanted(n, now, actions);
            }
        }
    }

    fn cancel_if_wanted(&mut self, n: usize, now: Instant, actions: &mut Vec<Action>) {
        let b = &mut self.branches[n];
        if b.cancel_wanted && b.provisional && !b.cancel_sent && b.state == State::Calling {
            b.cancel_sent = true;
            b.deadline = Some(now + self.timers.cancel_wait);
            actions.push(Action::Cancel(n));
        }
    }

    /// Starts the next group when the current one is over, or sends the
    /// best final response when nothing is left to try.
    fn settle(&mut self, now: Instant, actions: &mut Vec<Action>) {
        if self.final_sent || self.branches.iter().any(|b| b.state == State::Calling) {
            return;
        }
        if !self.closed && self.next_group < self.groups.len() {
            let group = self.groups[self.next_group].clone();
            self.next_group += 1;
            for n in group {
                let b = &mut self.branches[n];
                b.state = State::Calling;
                if self.invite {
                    b.deadline = Some(now + self.timers.timer_c);
                }
                actions.push(Action::Start(n));
            }
            return;
        }
        self.final_sent = true;
        actions.push(Action::Respond(self.best_final()));
    }

    /// §16.7 steps 6 and 7.
    fn best_final(&self) -> Message {
        if self.cancelled_by_caller {
            return self.generated(487);
        }
        if self.rang_out {
            return self.generated(480);
        }
        let rank = |m: &Message| {
            let code = m.status().unwrap_or(500);
            let preferred = [401, 407, 415, 420, 484]
                .iter()
                .position(|&p| p == code)
                .unwrap_or(5);
            // 6xx first, then the lowest class.
            let class = if code >= 600 { 0 } else { code / 100 };
            (class, preferred)
        };
        let Some(best) = self.finals.iter().min_by_key(|m| rank(m)) else {
            // No target at all: nobody to reach.
            return self.generated(480);
        };
        let mut best = best.clone();
        match best.status() {
            Some(503) => return self.generated(500),
            Some(401 | 407) => {
                let challenges: Vec<(HeaderName, String)> = self
                    .finals
                    .iter()
                    .filter(|m| matches!(m.status(), Some(401 | 407)))
                    .flat_map(|m| {
                        [HeaderName::WwwAuthenticate, HeaderName::ProxyAuthenticate]
                            .into_iter()
                            .flat_map(move |h| m.headers(h).map(move |v| (h, v.to_string())))
                    })
                    .collect();
                best.remove_header(HeaderName::WwwAuthenticate.as_str());
                best.remove_header(HeaderName::ProxyAuthenticate.as_str());
                for (h, v) in challenges {
                    let _ = best.add_header(h.as_str(), &v);
                }
            }
            _ => {}
        }
        best
    }

    fn generated(&self, code: u16) -> Message {
        self.request
            .as_ref()
            .and_then(|request| Message::response_to(request, code).ok())
            .unwrap_or_else(|| Message::new_response(code, None).expect("a valid status"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKcaller\r\n\
Max-Forwards: 70\r\n\
From: <sip:alice@example.com>;tag=a1\r\n\
To: <sip:bob@example.com>\r\n\
Call-ID: call-1\r\n\
CSeq: 1 INVITE\r\n\
Content-Length: 0\r\n\r\n";

    fn invite() -> Message {
        Message::parse(INVITE.as_bytes().to_vec()).unwrap()
    }

    /// A response of branch `n`, as it arrives: the proxy's Via on top.
    fn from_branch(n: usize, code: u16, extra: &str) -> Message {
        let text = format!(
            "SIP/2.0 {code} X\r\n\
Via: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bKproxy{n}\r\n\
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKcaller\r\n\
From: <sip:alice@example.com>;tag=a1\r\n\
To: <sip:bob@example.com>;tag=b{n}\r\n\
Call-ID: call-1\r\n\
CSeq: 1 INVITE\r\n\
{extra}Content-Length: 0\r\n\r\n"
        );
        Message::parse(text.into_bytes()).unwrap()
    }

    fn timers() -> ContextTimers {
        ContextTimers {
            timer_c: Duration::from_secs(180),
            cancel_wait: Duration::from_secs(32),
        }
    }

    fn codes(actions: &[Action]) -> Vec<String> {
        actions
            .iter()
            .map(|a| match a {
                Action::Start(n) => format!("start {n}"),
                Action::Cancel(n) => format!("cancel {n}"),
                Action::Abandon(n) => format!("abandon {n}"),
                Action::Respond(m) => {
                    assert_eq!(m.vias().count(), 1, "our Via is gone: {m:?}");
                    format!("respond {}", m.status().unwrap())
                }
            })
            .collect()
    }

    #[test]
    fn parallel_fork_one_answers_the_other_is_cancelled() {
        let t0 = Instant::now();
        let (mut ctx, a) = ResponseContext::new(invite(), &[None, None], timers(), t0);
        assert_eq!(codes(&a), ["start 0", "start 1"]);
        // 100 is absorbed; 180 goes up.
        assert!(ctx.on_response(0, from_branch(0, 100, ""), t0).is_empty());
        assert_eq!(
            codes(&ctx.on_response(1, from_branch(1, 180, ""), t0)),
            ["respond 180"]
        );
        // Branch 0 answers: up it goes, and branch 1 (which had a 180) is
        // cancelled.
        let a = ctx.on_response(0, from_branch(0, 200, ""), t0);
        assert_eq!(codes(&a), ["respond 200", "cancel 1"]);
        assert!(ctx.is_answered() && !ctx.is_finished());
        // The 2xx retransmitted, and a late 2xx of the other fork: up.
        assert_eq!(
            codes(&ctx.on_response(0, from_branch(0, 200, ""), t0)),
            ["respond 200"]
        );
        // The cancelled branch's 487 is absorbed.
        assert!(ctx.on_response(1, from_branch(1, 487, ""), t0).is_empty());
        assert!(ctx.is_finished());
        // Released for the wait states, a retransmitted 2xx still goes up.
        ctx.release();
        assert!(ctx.finals.is_empty());
        assert_eq!(
            codes(&ctx.on_response(0, from_branch(0, 200, ""), t0)),
            ["respond 200"]
        );
    }

    #[test]
    fn an_unfinished_context_keeps_its_finals() {
        let t0 = Instant::now();
        let (mut ctx, _) = ResponseContext::new(invite(), &[None, None], timers(), t0);
        assert!(ctx.on_response(0, from_branch(0, 486, ""), t0).is_empty());
        ctx.release();
        assert_eq!(
            codes(&ctx.on_response(1, from_branch(1, 404, ""), t0)),
            ["respond 486"]
        );
    }

    #[test]
    fn the_best_final_goes_up_once_all_have_ended() {
        let t0 = Instant::now();
        let (mut ctx, _) = ResponseContext::new(invite(), &[None, None, None], timers(), t0);
        assert!(ctx.on_response(0, from_branch(0, 486, ""), t0).is_empty());
        assert!(ctx.on_failure(1, BranchFailure::Timeout, t0).is_empty());
        let a = ctx.on_response(2, from_branch(2, 404, ""), t0);
        // 404, 408 and 486 are one class: the first of them.
        assert_eq!(codes(&a), ["respond 486"]);
        assert!(ctx.is_finished());
        // A 503 chosen becomes a 500 (§16.7 step 6).
        let (mut ctx, _) = ResponseContext::new(invite(), &[None], timers(), t0);
        let a = ctx.on_failure(0, BranchFailure::Transport, t0);
        assert_eq!(codes(&a), ["respond 500"]);
        // Among 4xx, a challenge is preferred.
        let (mut ctx, _) = ResponseContext::new(invite(), &[None, None], timers(), t0);
        ctx.on_response(0, from_branch(0, 404, ""), t0);
        let a = ctx.on_response(
            1,
            from_branch(1, 407, "Proxy-Authenticate: Digest realm=\"x\"\r\n"),
            t0,
        );
        assert_eq!(codes(&a), ["respond 407"]);
    }

    #[test]
    fn challenges_of_several_branches_are_merged() {
        let t0 = Instant::now();
        let (mut ctx, _) = ResponseContext::new(invite(), &[None, None], timers(), t0);
        ctx.on_response(
            0,
            from_branch(0, 401, "WWW-Authenticate: Digest realm=\"one\"\r\n"),
            t0,
        );
        let a = ctx.on_response(
            1,
            from_branch(1, 407, "Proxy-Authenticate: Digest realm=\"two\"\r\n"),
            t0,
        );
        let [Action::Respond(r)] = &a[..] else {
            panic!("{a:?}")
        };
        assert_eq!(r.status(), Some(401));
        assert_eq!(
            r.headers(HeaderName::WwwAuthenticate).collect::<Vec<_>>(),
            ["Digest realm=\"one\""]
        );
        assert_eq!(
            r.headers(HeaderName::ProxyAuthenticate).collect::<Vec<_>>(),
            ["Digest realm=\"two\""]
        );
    }

    #[test]
    fn a_6xx_cancels_the_rest_and_wins() {
        let t0 = Instant::now();
        let (mut ctx, _) = ResponseContext::new(invite(), &[None, None, Some(500)], timers(), t0);
        ctx.on_response(1, from_branch(1, 180, ""), t0);
        // A 6xx: branch 1 is cancelled, and no group starts after.
        let a = ctx.on_response(0, from_branch(0, 603, ""), t0);
        assert_eq!(codes(&a), ["cancel 1"]);
        let a = ctx.on_response(1, from_branch(1, 487, ""), t0);
        assert_eq!(codes(&a), ["respond 603"]);
    }

    #[test]
    fn groups_by_q_are_tried_in_turn() {
        let t0 = Instant::now();
        let qs = [Some(500), None, Some(500), Some(100)];
        let (mut ctx, a) = ResponseContext::new(invite(), &qs, timers(), t0);
        assert_eq!(codes(&a), ["start 1"]);
        let a = ctx.on_response(1, from_branch(1, 486, ""), t0);
        assert_eq!(codes(&a), ["start 0", "start 2"]);
        ctx.on_response(0, from_branch(0, 480, ""), t0);
        let a = ctx.on_failure(2, BranchFailure::Transport, t0);
        assert_eq!(codes(&a), ["start 3"]);
        let a = ctx.on_response(3, from_branch(3, 200, ""), t0);
        assert_eq!(codes(&a), ["respond 200"]);
        assert!(ctx.is_finished());
    }

    #[test]
    fn the_callers_cancel_ends_in_487() {
        let t0 = Instant::now();
        let (mut ctx, _) = ResponseContext::new(invite(), &[None, None], timers(), t0);
        ctx.on_response(0, from_branch(0, 180, ""), t0);
        // Branch 1 has had no provisional yet: its CANCEL waits for one.
        assert_eq!(codes(&ctx.on_cancel(t0)), ["cancel 0"]);
        assert_eq!(
            codes(&ctx.on_response(1, from_branch(1, 100, ""), t0)),
            ["cancel 1"]
        );
        assert!(ctx.on_response(0, from_branch(0, 487, ""), t0).is_empty());
        let a = ctx.on_response(1, from_branch(1, 487, ""), t0);
        assert_eq!(codes(&a), ["respond 487"]);
        // A second CANCEL, or one after the answer, does nothing.
        assert!(ctx.on_cancel(t0).is_empty());
    }

    #[test]
    fn timer_c_cancels_a_ringing_branch_and_408s_a_silent_one() {
        let t0 = Instant::now();
        let c = Duration::from_secs(180);
        let (mut ctx, _) = ResponseContext::new(invite(), &[None, None], timers(), t0);
        assert_eq!(ctx.poll_timeout(), Some(t0 + c));
        // A 180 at 60 s restarts branch 0's Timer C.
        let t1 = t0 + Duration::from_secs(60);
        ctx.on_response(0, from_branch(0, 180, ""), t1);
        assert!(
            ctx.handle_timeout(t0 + c - Duration::from_millis(1))
                .is_empty()
        );
        // At 180 s branch 1, which never answered, counts as 408.
        assert!(ctx.handle_timeout(t0 + c).is_empty());
        assert_eq!(ctx.poll_timeout(), Some(t1 + c));
        // At 240 s branch 0 is cancelled...
        assert_eq!(codes(&ctx.handle_timeout(t1 + c)), ["cancel 0"]);
        assert_eq!(ctx.poll_timeout(), Some(t1 + c + Duration::from_secs(32)));
        // ...and when its CANCEL goes unanswered, its transaction is given
        // up and it counts as 408 too.
        let a = ctx.handle_timeout(t1 + c + Duration::from_secs(32));
        assert_eq!(codes(&a), ["abandon 0", "respond 408"]);
        assert!(ctx.is_finished());
        assert_eq!(ctx.poll_timeout(), None);
        // A branch cancelled by Timer C that answers 487: the caller gets
        // 408, the branch did not answer in time.
        let (mut ctx, _) = ResponseContext::new(invite(), &[None], timers(), t0);
        ctx.on_response(0, from_branch(0, 180, ""), t0);
        assert_eq!(codes(&ctx.handle_timeout(t0 + c)), ["cancel 0"]);
        let a = ctx.on_response(0, from_branch(0, 487, ""), t0 + c);
        assert_eq!(codes(&a), ["respond 408"]);
    }

    #[test]
    fn the_ring_timeout_cancels_the_ringing_gives_up_the_silent_and_answers_480() {
        let t0 = Instant::now();
        let ring = Duration::from_secs(20);
        let (mut ctx, _) = ResponseContext::new(invite(), &[None, None, Some(500)], timers(), t0);
        ctx.ring_until(t0 + ring);
        assert_eq!(ctx.poll_timeout(), Some(t0 + ring));
        ctx.on_response(0, from_branch(0, 180, ""), t0);
        assert!(
            ctx.handle_timeout(t0 + ring - Duration::from_millis(1))
                .is_empty()
        );
        // Branch 0 rings: cancelled; branch 1 is silent: given up; the
        // group after them never starts.
        let a = ctx.handle_timeout(t0 + ring);
        assert_eq!(codes(&a), ["cancel 0", "abandon 1"]);
        assert!(ctx.rang_out() && !ctx.was_cancelled());
        let a = ctx.on_response(0, from_branch(0, 487, ""), t0 + ring);
        assert_eq!(codes(&a), ["respond 480"]);
        assert!(ctx.is_finished());
        // An answer before the limit: the limit is gone.
        let (mut ctx, _) = ResponseContext::new(invite(), &[None], timers(), t0);
        ctx.ring_until(t0 + ring);
        ctx.on_response(0, from_branch(0, 200, ""), t0);
        assert!(ctx.handle_timeout(t0 + ring).is_empty());
        assert!(!ctx.rang_out());
    }

    #[test]
    fn a_non_invite_takes_the_first_2xx_and_cancels_nothing() {
        let t0 = Instant::now();
        let message = Message::parse(
            INVITE
                .replace("INVITE sip", "MESSAGE sip")
                .replace("1 INVITE", "1 MESSAGE")
                .into_bytes(),
        )
        .unwrap();
        let (mut ctx, _) = ResponseContext::new(message, &[None, None], timers(), t0);
        assert_eq!(ctx.poll_timeout(), None, "no Timer C");
        assert_eq!(
            codes(&ctx.on_response(0, from_branch(0, 200, ""), t0)),
            ["respond 200"]
        );
        assert!(ctx.on_response(1, from_branch(1, 200, ""), t0).is_empty());
        assert!(ctx.is_finished());
    }
}
