//! Periods of business time named in a question, relative to `now` (UTC):
//! `today`, `yesterday`, `this`/`last` week, month or year (calendar
//! weeks start on Monday), `the last N hours` (and minutes, days, weeks,
//! months; `24h`), `the past week` (the 7 days up to now), `3 days ago`,
//! `the weekend`, a weekday (`on Monday`, `last Friday`), a date
//! (`2026-11-24`, `24 November`, `Nov 24th 2026`), a month (`in
//! November`, `November 2026`), a year (`in 2026`), and `since`,
//! `before`, `until`, `between ... and ...` and `from ... to ...` around
//! them. A date or month without a year is the latest one not after today.
//!
//! A period is half open, `[from, to)`; `since` and rolling periods end at
//! `now`. Must never read a period out of words that only may be one: a
//! bare month name needs a preposition, a day or a year ("may I see"), a
//! weekday's abbreviation a preposition ("sun"), a number a unit ("the
//! last 5 payments" is a count, not a period).

use std::ops::Range;

use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::{Date, Duration, Month, OffsetDateTime, UtcOffset, Weekday};

use super::{number, Token};

/// A span of business time, `[from, to)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Period {
    /// None: since the store's first event.
    pub from: Option<OffsetDateTime>,
    /// None: up to its newest.
    pub to: Option<OffsetDateTime>,
    /// The words of the question it was read from.
    pub words: String,
}

impl Period {
    /// `from` as PostgreSQL reads a timestamptz: RFC 3339, or `-infinity`.
    pub fn from_text(&self) -> String {
        self.from.map_or_else(|| "-infinity".to_owned(), rfc3339)
    }

    /// `to` as PostgreSQL reads a timestamptz: RFC 3339, or `infinity`.
    pub fn to_text(&self) -> String {
        self.to.map_or_else(|| "infinity".to_owned(), rfc3339)
    }

    pub fn to_json(&self) -> Value {
        json!({"words": self.words, "from": self.from_text(), "to": self.to_text()})
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.to_offset(UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

/// The first period in `tokens` among those not `taken`, and the tokens
/// it was read from (its preposition included).
pub(super) fn find(
    tokens: &[Token<'_>],
    taken: &[bool],
    now: OffsetDateTime,
) -> Option<(Period, Range<usize>)> {
    let now = now.to_offset(UtcOffset::UTC);
    let reader = Reader {
        words: tokens.iter().map(|t| t.word.as_str()).collect(),
        now,
        today: now.date(),
    };
    for i in 0..tokens.len() {
        let Some((span, end)) = reader.at(i) else {
            continue;
        };
        if taken[i..end].iter().any(|t| *t) {
            continue;
        }
        let words = tokens[i..end]
            .iter()
            .map(|t| t.raw)
            .collect::<Vec<_>>()
            .join(" ");
        let period = Period {
            from: span.from,
            to: span.to,
            words,
        };
        return Some((period, i..end));
    }
    None
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Span {
    from: Option<OffsetDateTime>,
    to: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Unit {
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Year,
}

struct Reader<'a> {
    words: Vec<&'a str>,
    now: OffsetDateTime,
    today: Date,
}

/// Words before a period that belong to it (and so are masked with it).
const PREPOSITIONS: &[&str] = &[
    "on",
    "in",
    "during",
    "for",
    "over",
    "throughout",
    "within",
    "at",
    "of",
    "by",
];

impl Reader<'_> {
    fn word(&self, i: usize) -> &str {
        self.words.get(i).copied().unwrap_or("")
    }

    /// A period starting at word `i`, and the index after it.
    fn at(&self, i: usize) -> Option<(Span, usize)> {
        match self.word(i) {
            "since" => {
                let (s, end) = self.span(i + 1, true)?;
                Some((self.since(s.from?), end))
            }
            "before" => {
                let (s, end) = self.span(i + 1, true)?;
                Some((
                    Span {
                        from: None,
                        to: s.from,
                    },
                    end,
                ))
            }
            "until" | "till" | "through" => {
                let (s, end) = self.span(i + 1, true)?;
                Some((
                    Span {
                        from: None,
                        to: s.to,
                    },
                    end,
                ))
            }
            "between" => {
                let (a, mid) = self.span(i + 1, true)?;
                (self.word(mid) == "and").then_some(())?;
                let (b, end) = self.span(mid + 1, true)?;
                Some((
                    Span {
                        from: a.from,
                        to: b.to,
                    },
                    end,
                ))
            }
            "from" => {
                let (a, mid) = self.span(i + 1, true)?;
                match self.word(mid) {
                    "to" | "until" | "till" | "through" | "thru" => {
                        let (b, end) = self.span(mid + 1, true)?;
                        Some((
                            Span {
                                from: a.from,
                                to: b.to,
                            },
                            end,
                        ))
                    }
                    _ => Some((a, mid)),
                }
            }
            "as" if self.word(i + 1) == "of" => self.span(i + 2, true),
            w if PREPOSITIONS.contains(&w) => self.span(i + 1, true),
            _ => self.span(i, false),
        }
    }

    fn since(&self, from: OffsetDateTime) -> Span {
        Span {
            from: Some(from),
            to: Some(self.now),
        }
    }

    /// A named span at word `i`; `after_preposition` lets a bare month or
    /// a weekday's abbreviation be one.
    fn span(&self, i: usize, after_preposition: bool) -> Option<(Span, usize)> {
        let today = self.today;
        match self.word(i) {
            "today" => return Some((day(today), i + 1)),
            "yesterday" | "yday" | "yda" | "yest" => {
                return Some((day(today - Duration::DAY), i + 1))
            }
            "this" | "current" => return self.this(i + 1),
            "the" | "these" if self.word(i + 1) == "weekend" => {
                return Some((weekend(today, false), i + 2))
            }
            "weekend" => return Some((weekend(today, false), i + 1)),
            _ => {}
        }
        if let Some(found) = self.day_before_yesterday(i) {
            return Some(found);
        }
        if let Some(found) = self.recent(i) {
            return Some(found);
        }
        if let Some(found) = self.ago(i) {
            return Some(found);
        }
        if let Some((d, end)) = self.date(i) {
            return Some((day(d), end));
        }
        if let Some(m) = month(self.word(i)) {
            if let Some(y) = year(self.word(i + 1)) {
                return Some((month_span(y, m)?, i + 2));
            }
            if after_preposition {
                let y = if m as u8 > today.month() as u8 {
                    today.year() - 1
                } else {
                    today.year()
                };
                return Some((month_span(y, m)?, i + 1));
            }
        }
        if after_preposition {
            if let Some(y) = year(self.word(i)) {
                return Some((year_span(y)?, i + 1));
            }
        }
        let wd = weekday(self.word(i), after_preposition)?;
        Some((day(latest(today, wd, false)), i + 1))
    }

    /// After `this`: week, month, year, weekend or a weekday of this week.
    fn this(&self, i: usize) -> Option<(Span, usize)> {
        let today = self.today;
        let span = match unit(self.word(i)) {
            Some(Unit::Week) => week(today),
            Some(Unit::Month) => month_span(today.year(), today.month())?,
            Some(Unit::Year) => year_span(today.year())?,
            Some(Unit::Day) => day(today),
            _ if self.word(i) == "weekend" => weekend(today, false),
            _ => {
                let wd = weekday(self.word(i), true)?;
                let monday =
                    today - Duration::days(today.weekday().number_days_from_monday().into());
                day(monday + Duration::days(wd.number_days_from_monday().into()))
            }
        };
        Some((span, i + 1))
    }

    fn day_before_yesterday(&self, i: usize) -> Option<(Span, usize)> {
        let start = if self.word(i) == "the" { i + 1 } else { i };
        let words = [self.word(start), self.word(start + 1), self.word(start + 2)];
        (words == ["day", "before", "yesterday"])
            .then(|| (day(self.today - Duration::days(2)), start + 3))
    }

    /// `[the] last|past|previous ...`: N units up to now, a calendar week,
    /// month or year before this one, the weekend before, a weekday.
    fn recent(&self, i: usize) -> Option<(Span, usize)> {
        let the = self.word(i) == "the";
        let at = if the { i + 1 } else { i };
        let lead = self.word(at);
        if !matches!(lead, "last" | "past" | "previous" | "prev") {
            return None;
        }
        let next = at + 1;
        if let Some((n, u, end)) = self.count_of_units(next) {
            return Some((self.rolling(n, u)?, end));
        }
        if let Some(u) = unit(self.word(next)) {
            let rolling =
                the || lead == "past" || matches!(u, Unit::Minute | Unit::Hour | Unit::Day);
            let today = self.today;
            let span = if rolling {
                self.rolling(1, u)?
            } else {
                match u {
                    Unit::Week => week(today - Duration::WEEK),
                    Unit::Month => {
                        let first = today.replace_day(1).ok()?;
                        let before = first - Duration::DAY;
                        month_span(before.year(), before.month())?
                    }
                    _ => year_span(today.year() - 1)?,
                }
            };
            return Some((span, next + 1));
        }
        if self.word(next) == "weekend" {
            return Some((weekend(self.today, true), next + 1));
        }
        let wd = weekday(self.word(next), true)?;
        Some((day(latest(self.today, wd, true)), next + 1))
    }

    /// `N units` (`24 hours`, `24h`, `a couple of days`) at word `i`.
    fn count_of_units(&self, i: usize) -> Option<(u32, Unit, usize)> {
        if let Some((n, u)) = compact(self.word(i)) {
            return Some((n, u, i + 1));
        }
        let (n, at) = match self.word(i) {
            "couple" if self.word(i + 1) == "of" => (2, i + 2),
            w => (number(w)?, i + 1),
        };
        let u = unit(self.word(at))?;
        (n > 0).then_some((n, u, at + 1))
    }

    /// N minutes (hours, ...) before now, up to now.
    fn rolling(&self, n: u32, u: Unit) -> Option<Span> {
        let now = self.now;
        let from = match u {
            Unit::Minute => now - Duration::minutes(n.into()),
            Unit::Hour => now - Duration::hours(n.into()),
            Unit::Day => now - Duration::days(n.into()),
            Unit::Week => now - Duration::weeks(n.into()),
            Unit::Month => months_before(now, n)?,
            Unit::Year => months_before(now, n.checked_mul(12)?)?,
        };
        Some(self.since(from))
    }

    /// `3 days ago`, `a week ago`: that calendar day.
    fn ago(&self, i: usize) -> Option<(Span, usize)> {
        let (n, u, end) = match self.word(i) {
            "a" | "an" | "one" => (1, unit(self.word(i + 1))?, i + 2),
            _ => self.count_of_units(i)?,
        };
        if self.word(end) != "ago" {
            return None;
        }
        let back = match u {
            Unit::Day => Duration::days(n.into()),
            Unit::Week => Duration::weeks(n.into()),
            _ => return None,
        };
        Some((day(self.today - back), end + 1))
    }

    /// A calendar date at word `i`: `2026-11-24`, `[the] 24[th] [of]
    /// November [2026]`, `November 24[th] [2026]`.
    fn date(&self, i: usize) -> Option<(Date, usize)> {
        if let Some(d) = iso_date(self.word(i)) {
            return Some((d, i + 1));
        }
        let at = if self.word(i) == "the" { i + 1 } else { i };
        if let Some(d) = day_of_month(self.word(at)) {
            let of = if self.word(at + 1) == "of" {
                at + 2
            } else {
                at + 1
            };
            if let Some(m) = month(self.word(of)) {
                return self.dated(d, m, of + 1);
            }
        }
        let m = month(self.word(i))?;
        let d = day_of_month(self.word(i + 1))?;
        self.dated(d, m, i + 2)
    }

    /// Day `d` of month `m` in the year at word `i`, else the latest not
    /// after today.
    fn dated(&self, d: u8, m: Month, i: usize) -> Option<(Date, usize)> {
        if let Some(y) = year(self.word(i)) {
            return Some((Date::from_calendar_date(y, m, d).ok()?, i + 1));
        }
        let this_year = Date::from_calendar_date(self.today.year(), m, d);
        let date = match this_year {
            Ok(date) if date <= self.today => date,
            _ => Date::from_calendar_date(self.today.year() - 1, m, d).ok()?,
        };
        Some((date, i))
    }
}

fn midnight(d: Date) -> OffsetDateTime {
    d.midnight().assume_utc()
}

fn day(d: Date) -> Span {
    Span {
        from: Some(midnight(d)),
        to: Some(midnight(d + Duration::DAY)),
    }
}

/// The calendar week (Monday to Monday) holding `d`.
fn week(d: Date) -> Span {
    let monday = d - Duration::days(d.weekday().number_days_from_monday().into());
    Span {
        from: Some(midnight(monday)),
        to: Some(midnight(monday + Duration::WEEK)),
    }
}

fn month_span(y: i32, m: Month) -> Option<Span> {
    let first = Date::from_calendar_date(y, m, 1).ok()?;
    let next = if m == Month::December {
        Date::from_calendar_date(y + 1, Month::January, 1).ok()?
    } else {
        Date::from_calendar_date(y, m.next(), 1).ok()?
    };
    Some(Span {
        from: Some(midnight(first)),
        to: Some(midnight(next)),
    })
}

fn year_span(y: i32) -> Option<Span> {
    Some(Span {
        from: Some(midnight(
            Date::from_calendar_date(y, Month::January, 1).ok()?,
        )),
        to: Some(midnight(
            Date::from_calendar_date(y + 1, Month::January, 1).ok()?,
        )),
    })
}

/// Saturday and Sunday: the latest weekend begun by today, or (`before`)
/// the one before the current week's.
fn weekend(today: Date, before: bool) -> Span {
    let saturday = latest(today, Weekday::Saturday, false);
    let in_weekend = today.weekday() == Weekday::Saturday || today.weekday() == Weekday::Sunday;
    let saturday = if before && in_weekend {
        saturday - Duration::WEEK
    } else {
        saturday
    };
    Span {
        from: Some(midnight(saturday)),
        to: Some(midnight(saturday + Duration::days(2))),
    }
}

/// The latest `wd` on or before `today` (`strictly`: before it).
fn latest(today: Date, wd: Weekday, strictly: bool) -> Date {
    let back = (7 + i64::from(today.weekday().number_days_from_monday())
        - i64::from(wd.number_days_from_monday()))
        % 7;
    let back = if strictly && back == 0 { 7 } else { back };
    today - Duration::days(back)
}

/// `t` moved back `n` calendar months (the day cut to the month's last).
fn months_before(t: OffsetDateTime, n: u32) -> Option<OffsetDateTime> {
    let total = t.year() * 12 + i32::from(u8::from(t.month())) - 1 - i32::try_from(n).ok()?;
    let (y, m) = (
        total.div_euclid(12),
        Month::try_from((total.rem_euclid(12) + 1) as u8).ok()?,
    );
    let d = t.day().min(
        month_span(y, m)?
            .to
            .map(|end| (end - Duration::DAY).day())?,
    );
    Some(t.replace_date(Date::from_calendar_date(y, m, d).ok()?))
}

fn unit(word: &str) -> Option<Unit> {
    Some(match word {
        "minute" | "minutes" | "min" | "mins" => Unit::Minute,
        "hour" | "hours" | "hr" | "hrs" | "h" => Unit::Hour,
        "day" | "days" | "d" => Unit::Day,
        "week" | "weeks" | "wk" | "wks" | "w" => Unit::Week,
        "month" | "months" | "mo" | "mos" | "mth" | "mths" => Unit::Month,
        "year" | "years" | "yr" | "yrs" => Unit::Year,
        _ => return None,
    })
}

/// `24h`, `7d`, `30min`: a count and a unit in one word.
fn compact(word: &str) -> Option<(u32, Unit)> {
    let digits = word.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || digits == word.len() || digits > 4 {
        return None;
    }
    let n: u32 = word[..digits].parse().ok()?;
    let u = match &word[digits..] {
        "m" => Unit::Minute,
        rest => unit(rest)?,
    };
    (n > 0).then_some((n, u))
}

fn month(word: &str) -> Option<Month> {
    Some(match word {
        "jan" | "january" => Month::January,
        "feb" | "february" => Month::February,
        "mar" | "march" => Month::March,
        "apr" | "april" => Month::April,
        "may" => Month::May,
        "jun" | "june" => Month::June,
        "jul" | "july" => Month::July,
        "aug" | "august" => Month::August,
        "sep" | "sept" | "september" => Month::September,
        "oct" | "october" => Month::October,
        "nov" | "november" => Month::November,
        "dec" | "december" => Month::December,
        _ => return None,
    })
}

/// A weekday's full name, or (`abbreviations`) its short forms.
fn weekday(word: &str, abbreviations: bool) -> Option<Weekday> {
    let full = match word {
        "monday" | "mondays" => Some(Weekday::Monday),
        "tuesday" => Some(Weekday::Tuesday),
        "wednesday" => Some(Weekday::Wednesday),
        "thursday" => Some(Weekday::Thursday),
        "friday" => Some(Weekday::Friday),
        "saturday" => Some(Weekday::Saturday),
        "sunday" => Some(Weekday::Sunday),
        _ => None,
    };
    if full.is_some() || !abbreviations {
        return full;
    }
    Some(match word {
        "mon" => Weekday::Monday,
        "tue" | "tues" => Weekday::Tuesday,
        "wed" => Weekday::Wednesday,
        "thu" | "thur" | "thurs" => Weekday::Thursday,
        "fri" => Weekday::Friday,
        "sat" => Weekday::Saturday,
        "sun" => Weekday::Sunday,
        _ => return None,
    })
}

/// `24`, `24th`, `1st`: a day of a month.
fn day_of_month(word: &str) -> Option<u8> {
    let digits = word.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || digits > 2 {
        return None;
    }
    if !matches!(&word[digits..], "" | "st" | "nd" | "rd" | "th") {
        return None;
    }
    let d: u8 = word[..digits].parse().ok()?;
    (1..=31).contains(&d).then_some(d)
}

fn year(word: &str) -> Option<i32> {
    if word.len() != 4 || !word.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let y: i32 = word.parse().ok()?;
    (1970..=2100).contains(&y).then_some(y)
}

/// `2026-11-24`.
fn iso_date(word: &str) -> Option<Date> {
    let mut parts = word.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let y = year(y)?;
    let m = Month::try_from(m.parse::<u8>().ok()?).ok()?;
    Date::from_calendar_date(y, m, d.parse().ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::super::tests::now;
    use super::super::tokenize;
    use super::*;

    /// The period read from `q` at the evaluation's `now` (Wednesday
    /// 2026-11-25 12:00 UTC), as (from, to, the words it came from).
    fn read(q: &str) -> Option<(String, String, String)> {
        let tokens = tokenize(q);
        let taken = vec![false; tokens.len()];
        find(&tokens, &taken, now()).map(|(p, _)| (p.from_text(), p.to_text(), p.words))
    }

    fn span(q: &str) -> (String, String) {
        let (from, to, _) = read(q).unwrap_or_else(|| panic!("no period in {q:?}"));
        (from, to)
    }

    fn days(from: &str, to: &str) -> (String, String) {
        (format!("{from}T00:00:00Z"), format!("{to}T00:00:00Z"))
    }

    #[test]
    fn today_and_yesterday_are_calendar_days() {
        assert_eq!(span("tickets today"), days("2026-11-25", "2026-11-26"));
        assert_eq!(
            span("payments failed yesterday?"),
            days("2026-11-24", "2026-11-25")
        );
        assert_eq!(
            span("Yesterday's invoices"),
            days("2026-11-24", "2026-11-25")
        );
        assert_eq!(
            span("the day before yesterday"),
            days("2026-11-23", "2026-11-24")
        );
    }

    #[test]
    fn this_and_last_week_month_and_year_are_calendar_ones() {
        assert_eq!(span("this week"), days("2026-11-23", "2026-11-30"));
        assert_eq!(span("last week"), days("2026-11-16", "2026-11-23"));
        assert_eq!(span("previous week"), days("2026-11-16", "2026-11-23"));
        assert_eq!(span("this month"), days("2026-11-01", "2026-12-01"));
        assert_eq!(span("last month"), days("2026-10-01", "2026-11-01"));
        assert_eq!(span("this year"), days("2026-01-01", "2027-01-01"));
        assert_eq!(span("last year"), days("2025-01-01", "2026-01-01"));
    }

    #[test]
    fn the_last_n_units_end_now() {
        let noon = "2026-11-25T12:00:00Z".to_owned();
        assert_eq!(
            span("in the last 24 hours"),
            ("2026-11-24T12:00:00Z".into(), noon.clone())
        );
        assert_eq!(
            span("last 24h"),
            ("2026-11-24T12:00:00Z".into(), noon.clone())
        );
        assert_eq!(
            span("past 3 days"),
            ("2026-11-22T12:00:00Z".into(), noon.clone())
        );
        assert_eq!(span("the last ten minutes"), span("last 10 mins"));
        assert_eq!(
            span("last 30 mins"),
            ("2026-11-25T11:30:00Z".into(), noon.clone())
        );
        assert_eq!(
            span("over the past week"),
            ("2026-11-18T12:00:00Z".into(), noon.clone())
        );
        assert_eq!(
            span("the last hour"),
            ("2026-11-25T11:00:00Z".into(), noon.clone())
        );
        assert_eq!(
            span("the last 2 months"),
            ("2026-09-25T12:00:00Z".into(), noon.clone())
        );
        assert_eq!(
            span("last couple of days"),
            ("2026-11-23T12:00:00Z".into(), noon)
        );
    }

    #[test]
    fn a_month_back_from_a_long_month_ends_on_the_shorter_ones_last_day() {
        let t = OffsetDateTime::parse("2026-03-31T08:00:00Z", &Rfc3339).unwrap();
        assert_eq!(
            rfc3339(months_before(t, 1).unwrap()),
            "2026-02-28T08:00:00Z"
        );
        assert_eq!(
            rfc3339(months_before(t, 3).unwrap()),
            "2025-12-31T08:00:00Z"
        );
    }

    #[test]
    fn since_starts_at_the_day_and_ends_now() {
        let noon = "2026-11-25T12:00:00Z".to_owned();
        assert_eq!(
            span("since Monday"),
            ("2026-11-23T00:00:00Z".into(), noon.clone())
        );
        assert_eq!(
            span("since 20 November"),
            ("2026-11-20T00:00:00Z".into(), noon.clone())
        );
        assert_eq!(
            span("since 2026-11-01"),
            ("2026-11-01T00:00:00Z".into(), noon.clone())
        );
        assert_eq!(
            span("since yesterday"),
            ("2026-11-24T00:00:00Z".into(), noon.clone())
        );
        assert_eq!(
            span("since last week"),
            ("2026-11-16T00:00:00Z".into(), noon)
        );
    }

    #[test]
    fn dates_in_several_spellings() {
        let d24 = days("2026-11-24", "2026-11-25");
        for q in [
            "on 2026-11-24",
            "on 24 November",
            "24 nov",
            "November 24th",
            "nov. 24, 2026",
            "on the 24th of November",
            "as of 24 november 2026",
        ] {
            assert_eq!(span(q), d24, "{q}");
        }
    }

    #[test]
    fn a_date_without_a_year_is_the_latest_not_after_today() {
        assert_eq!(span("on 30 November"), days("2025-11-30", "2025-12-01"));
        assert_eq!(span("on 25 November"), days("2026-11-25", "2026-11-26"));
    }

    #[test]
    fn months_and_years() {
        assert_eq!(span("in November"), days("2026-11-01", "2026-12-01"));
        assert_eq!(span("during october"), days("2026-10-01", "2026-11-01"));
        assert_eq!(span("in December"), days("2025-12-01", "2026-01-01"));
        assert_eq!(span("November 2025"), days("2025-11-01", "2025-12-01"));
        assert_eq!(span("in 2026"), days("2026-01-01", "2027-01-01"));
    }

    #[test]
    fn weekdays_are_the_latest_one() {
        assert_eq!(span("on Monday"), days("2026-11-23", "2026-11-24"));
        assert_eq!(span("tuesday"), days("2026-11-24", "2026-11-25"));
        assert_eq!(span("on wednesday"), days("2026-11-25", "2026-11-26"));
        assert_eq!(span("last wednesday"), days("2026-11-18", "2026-11-19"));
        assert_eq!(span("last Friday"), days("2026-11-20", "2026-11-21"));
        assert_eq!(span("on fri"), days("2026-11-20", "2026-11-21"));
    }

    #[test]
    fn weekends() {
        assert_eq!(span("over the weekend"), days("2026-11-21", "2026-11-23"));
        assert_eq!(span("last weekend"), days("2026-11-21", "2026-11-23"));
    }

    #[test]
    fn ranges_and_bounds() {
        assert_eq!(
            span("between 20 November and 22 November"),
            days("2026-11-20", "2026-11-23")
        );
        assert_eq!(
            span("from monday to tuesday"),
            days("2026-11-23", "2026-11-25")
        );
        assert_eq!(
            span("before 20 November"),
            ("-infinity".into(), "2026-11-20T00:00:00Z".into())
        );
        assert_eq!(
            span("until yesterday"),
            ("-infinity".into(), "2026-11-25T00:00:00Z".into())
        );
    }

    #[test]
    fn days_ago() {
        assert_eq!(span("3 days ago"), days("2026-11-22", "2026-11-23"));
        assert_eq!(span("a week ago"), days("2026-11-18", "2026-11-19"));
    }

    #[test]
    fn the_period_keeps_its_words_and_its_preposition() {
        let (_, _, words) = read("How many tickets in the last 24 hours for business").unwrap();
        assert_eq!(words, "in the last 24 hours");
        let (_, _, words) = read("tickets since Monday?").unwrap();
        assert_eq!(words, "since Monday");
    }

    #[test]
    fn words_that_only_may_be_a_period_are_not_one() {
        for q in [
            "may I see the failed payments",
            "top 5 customers",
            "show the last 5 failed payments",
            "version 3 of customer-42",
            "customer-42",
            "usage-cus-000123",
            "in the last 0 days",
            "on 31 February",
            "on 2026-13-01",
            "the sun is down, all tickets",
            "a second ticket",
            "business days",
            "march the tickets",
            "tickets by class",
            "for business customers",
        ] {
            assert_eq!(read(q), None, "{q}");
        }
    }

    #[test]
    fn a_taken_word_is_not_read_again() {
        let tokens = tokenize("yesterday");
        assert!(find(&tokens, &[true], now()).is_none());
    }
}
