"""Every weight and threshold the ranking uses, in one place, each with what it is for.

Values were tuned on the labelled sets marked "tuned on" in ``tests/data/README.md``; a
change here is a change to rankings (``tests/unit/test_matcher_rankings_unchanged.py``
shows which moved)."""

from __future__ import annotations

from datetime import timedelta

# ---- needs ------------------------------------------------------------------------------
NEED_DECAY = (1.0, 0.45, 0.2, 0.1, 0.05)  # second and later needs a service meets count less
MENTION_STEP, MENTION_FLOOR = 0.04, 0.8  # each later-mentioned need weighs a little less
SYMPTOMS = ("low_mood", "anxiety", "stress", "sleep")  # often the echo of another need
SYMPTOM_WEIGHT, CAUSE_CONFIDENCE = 0.75, 0.7
CIRCUMSTANCE_WEIGHT = 0.25  # a fact stated about the person beside what they want: no need
ADAPTED_BOOST = 1.2  # an activity adapted for the person's disability (wheelchair sport)
GENERATOR_WEIGHT = 0.3  # a need this faint scores candidates but does not propose them
CATEGORY_NEED_CONFIDENCE = 0.9  # a structured need category is nearly as sure as words
UNMET_THRESHOLD = 0.45  # a stated need no service fits this well is reported unmet
UNMET_CONFIDENCE = 0.7  # ... when it was stated this surely

# ---- candidates and the pick ------------------------------------------------------------
CELL_LAT, CELL_LON = 0.25, 0.4  # about 28 km by 28 km in the UK
NEARBY_STRONG = 3  # fewer strong answers than this nearby: look further afield
STRONG_FIT = 0.5
SHORTLIST = 60
MIN_PROPOSAL_FIT = 0.2
COVERAGE = 0.2  # how much of a need one service that answers it fully takes care of
REASON_FIT = 0.3  # a need a service fits less than this is not given as a reason

# ---- distance and delivery --------------------------------------------------------------
DISTANCE_SCALE_KM = 20.0
REMOTE_FACTOR = 0.82  # phone or home-visit services: no journey, but less connection
REMOTE_BOOST, IN_PERSON_DAMPING = 0.3, 0.3  # someone who can't get out: a wish, not a bar

# ---- language and accessibility ---------------------------------------------------------
LANGUAGE_CONCEPTS = ("english", "culture")
SAME_LANGUAGE_FIT = 0.75  # a group in the person's own language eases a language barrier
OWN_LANGUAGE_BOOST = 1.35  # ... for someone with little or no English
SHARED_LANGUAGE_BOOST = 1.15  # ... for someone who also speaks English
NO_SHARED_LANGUAGE = 0.92  # no speaker of the person's language, and they have no English
ACCESS_MET, ACCESS_MISSING = 1.05, 0.85

# ---- the entry itself -------------------------------------------------------------------
STALE_AFTER = timedelta(days=183)
STALE_FACTOR = 0.8
CLOSED_FACTOR = 0.4
# signed-in people who report the entry out of date or closed, unresolved: one may be wrong,
# several agreeing are a reason to offer it after the rest until the group answers them
REPORTS_TO_DEMOTE = 2
REPORTED_FACTOR = 0.7
SCHEDULE_BOOST = 1.08  # runs at the times the person said suit them
SCHEDULE_CONFIDENCE = (
    0.5  # a time said less surely (or of someone else: "daughter visits weekends")
)

# ---- who a service is for ---------------------------------------------------------------
AUDIENCE_FIT = 0.6  # a service this strong on an audience concept is meant for that group
AUDIENCE_PENALTY = 0.6  # ... so it is a poor proposal for someone outside it
COMMUNITY_FIT = 0.3  # a service naming a faith or heritage this clearly is that group's ...
MANY_COMMUNITIES = 3  # ... unless it names this many of one kind: then it is for everyone
OTHER_COMMUNITY = 0.3  # another community's group for someone who misses their own
OWN_COMMUNITY_BOOST = 1.2  # ... and their own community's group is what they miss
FORMER_PENALTY = 0.1  # ... and a wrong one (not offered) when it is for those whose situation ended
NARROWER_IMPLIES = 0.8  # an audience implying another this strongly is a subgroup of it
ABOUT_SOMEONE_ELSE = 0.5  # an audience suppressing another this much is its family or carers
YOUNG_AGE, OLDER_AGE, OLDEST_AGE = 25, 65, 75
MIDDLE_AGE = 50  # under this, a service for later life fits less
LATER_LIFE_MIN_AGE, YOUNG_MAX_AGE = 50, 30  # eligibility bands that say who a service is for
OLDER_BOOST, OLDEST_BOOST, OLDER_FOR_YOUNGER = 1.1, 1.2, 0.85
YOUNG_BOOST = 1.4  # a service built for 18-25s is what a link worker offers a 20-year-old
YOUNG_FOR_OLDER = 0.8
SAME_GENDER_BOOST = 1.1  # a group for the person's own gender was set up for people like them

# ---- the pace and the talking -----------------------------------------------------------
TRAIT_FIT = 0.5  # a service this strong on a trait (vigorous, gentle) has it
VIGOROUS_PENALTY, GENTLE_BOOST = 0.75, 1.1  # for someone whose health asks for gentle activity
TALKING_PENALTY = 0.6  # a talking group or therapy for someone who would rather not talk
BUSY_PENALTY, QUIET_BOOST = 0.7, 1.15  # for someone who finds noisy, busy groups hard
GENTLE_AGE = 65
# conditions that make a link worker start with something gentle, not a run or a boot camp
NEEDS_GENTLE = (
    "pain",
    "lung",
    "heart",
    "mobility",
    "weight",
    "diabetes",
    "long_term_condition",
    "stroke",
    "parkinsons",
    "cancer",
    "housebound",
    "dementia",
    "sight_loss",
)
VIGOROUS_INTERESTS = (
    "running",
    "football",
    "boxing",
    "cycling",
    "netball",
    "tennis",
    "cricket",
    "rugby",
    "swimming",
)

# ---- communities ------------------------------------------------------------------------
# an occupation the person shares with a community (a farmer, a former miner) is a soft need
# of its own, so its groups are proposed beside what was asked for; faith and heritage have
# needs of their own (faith, culture) that bring their groups already
COMMUNITY_PRIORITY = {"occupation": 0.5}
