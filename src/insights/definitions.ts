/**
 * What every figure means, written once: the OpenAPI document shows these, and the README says the
 * same in prose.
 */
export const definitions = {
  common:
    'Every figure comes from the lead\'s recorded history: created → assigned → first human reply → each stage change → won or lost. ' +
    'Periods and buckets are in the workspace\'s IANA time zone, daylight-saving changes included (a day can be 23 or 25 hours; weeks start on Monday). ' +
    '`from` is inclusive and `to` exclusive; a date (YYYY-MM-DD) is local midnight, and a date as `to` includes that whole day. The first and last bucket may be partial. ' +
    'Filters (`channel`, `sourceId`, `productId`, `segment`, `ownerId`) narrow the leads counted. A rep of a workspace whose visibility is "own" sees figures made of their own leads only. ' +
    'Tables answer CSV with `?format=csv` or `Accept: text/csv`. ' +
    'After a change of the workspace\'s time zone its daily counts are rebuilt in the background: until that is done responses say `recomputing: true` and the figures are read from the leads themselves (exact, slower).',
  leadsCreated: 'Leads created per bucket; with `by`, per bucket and value of channel, source, product (a lead with two products counts for both), segment, owner or current stage.',
  arrivals: 'Leads created per local day of the week (1 = Monday … 7 = Sunday) and hour (0–23): all 168 cells.',
  speedToLead:
    'Human first-response time (FRT) per response window. A window opens when a lead arrives and again when the contact writes on a resolved conversation (so FRT restarts on reopening); ' +
    'only a person\'s reply (a rep or an integration), or a call a rep picks up, closes it — acknowledgements and sequence steps never count as a response. ' +
    'p50/p90 are over answered windows, with the windows still unanswered counted beside them (`unanswered`, and `unansweredPastDue` of those past their deadline); `p50IncludingOpenSeconds`/`p90IncludingOpenSeconds` (and `firstTouchP50IncludingOpenSeconds`/`firstTouchP90IncludingOpenSeconds`) are over every window, an unanswered one counted at its age now (in working time with businessHours=true), so leaving leads unanswered never makes a rep look faster; the within-5/15/60-minute shares are of all windows opened in the period (an unanswered one is not within anything). ' +
    '`businessHours=true` counts only working time (the workspace\'s workingHours, in its time zone). ' +
    'Speed to lead proper counts one first touch per lead: `firstTouches` (each lead\'s first window), `firstTouchesAnswered` and `firstTouchP50Seconds`/`firstTouchP90Seconds` over those answered; `reopenings` are the other windows. ' +
    'By rep: the rep who answered (none when an integration did, through a workspace API key), or the lead\'s owner while unanswered. By channel: where the contact wrote. ' +
    'Acknowledgement latency: from the lead\'s creation to its first automatic message (not a sequence step) going out, when that is within a day; by the lead\'s owner, channel or creation bucket.',
  followUpRate:
    'Two figures, each of its own population. First response within the SLA (`withinSlaRate`; `rate` is its first name): of the leads created in the period with an owner and a first-response deadline (the workspace\'s SLA, counted in working hours), the share a person answered by that deadline; by the lead\'s owner or creation bucket. ' +
    'Follow-up rate (`followUpRate`): of the follow-ups due in the period, up to now, the share completed by their due time; those still open are overdue; by the follow-up\'s owner or due bucket.',
  funnel:
    'The leads created in the period (a cohort), followed to now. Main path: open → contacted → qualified → negotiation → customer; `reached` counts leads that got to a stage or beyond on it ' +
    '(for the side stages nurture, inactive and unqualified: that entered it), `conversion` is reached over the previous stage\'s reached. ' +
    'Median time in stage is over stays that ended. Won: in Customer now; lost: in Unqualified now, with the reason given when it was marked; open: neither yet. ' +
    'Win rate: won / (won + lost), so leads still open count neither for nor against it. ' +
    'With by=owner, `byOwner` credits each step to whoever owned the lead when it got there (each stage change records the owner then), so reassigning a lead does not rewrite who brought it that far: per owner and stage, `reached` (main path: got this far, a jump past stages reaching each; side stages: entered it), `conversion` over the same owner\'s previous stage, and `entered` (first entries); Open, the cohort\'s arrival, is no one\'s step. The `ownerId` filter narrows to the leads a user owns now.',
  quotas:
    'Each quota whose month ("2026-11") or quarter ("2026-Q4") overlaps the period, in the workspace time zone: target, and actual = leads that first reached Qualified or a later stage (negotiation, customer) during the quota\'s period, of its product when it names one; a lead lost after it qualified still counts, and one qualified again counts once. ' +
    'Won = leads that first reached Customer during the quota\'s period (one lost afterwards still counts, once), against `wonTarget`; revenue = the sum of those leads\' deal values (`dealValue`, as entered), against `revenueTarget`. ' +
    'A quota with an `ownerId` is that rep\'s: it counts the steps made while the rep owned the lead (the owner each stage change records); without one it is the team\'s (the workspace). ' +
    'The same counts as `GET /quotas/:id/progress`: for a rep who sees only their own leads, both count those leads.',
  sequences:
    'Per sequence and step, for enrolments made in the period: enrolled, step messages sent (sent, delivered or read), failed, skipped; replied and opted out count each enrolment once, for the last step sent before the contact\'s first reply or opt-out.',
  leads:
    'The leads behind a figure: the same period and filters, narrowed by `bucket` (a label the figures return, with its `groupBy`), `by` + `key` (empty key: leads without a value), `reachedStage`, or `dayOfWeek` + `hour`. ' +
    'Newest first, a page at a time. As CSV it is the lead export: every matching lead, one row each (stage, owner, channel, source, products, qualifiers, created, first response, FRT, score), streamed.',
  summary:
    'The one-page overview: leads created per bucket and by channel, product, segment and current stage; first response within the SLA; the follow-up rate; the median first-response time per rep; quota progress.',
} as const;
