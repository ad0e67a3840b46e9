//! Labelled support-ticket texts: the free text of `ticket.opened` and a
//! training set for the ticket classifier. Owns the intents (what a customer
//! wants, with its class and how urgent it is), their phrasings, the tones,
//! the mixed-topic asides, the typos, and the rule that turns intent and
//! tone into a priority.
//!
//! Seeded and pure: the same RNG state and context give the same text. It
//! knows nothing of the simulator's population (the caller passes a
//! [`TicketContext`]) and never reads the clock. It must never be the source
//! of evaluation data: the classifier's held-out set
//! (`bss-intel/data/tickets_heldout.tsv`) is written by hand, apart from
//! these phrase lists, so that a score on it measures more than recall of
//! the templates.

use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// The schema's `maxLength` of `text` (`schemas/ticket.opened.json`).
pub const MAX_TEXT_CHARS: usize = 2000;
/// Share of texts that get typos at all, and of the eligible words of such
/// a text that get one: people type fast, but most tickets are readable.
const TYPO_TEXT_SHARE: f64 = 0.3;
const TYPO_WORD_SHARE: f64 = 0.07;
/// Share of tickets that mention a second topic in passing.
const ASIDE_SHARE: f64 = 0.2;

/// What a ticket is about: the classifier's labels and the event's `category`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TicketClass {
    Network,
    Billing,
    Device,
    Contract,
    Other,
}

impl TicketClass {
    pub const ALL: [TicketClass; 5] = [
        TicketClass::Network,
        TicketClass::Billing,
        TicketClass::Device,
        TicketClass::Contract,
        TicketClass::Other,
    ];

    /// The label as `ticket.opened`'s `category` and the held-out file spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            TicketClass::Network => "network",
            TicketClass::Billing => "billing",
            TicketClass::Device => "device",
            TicketClass::Contract => "contract",
            TicketClass::Other => "other",
        }
    }
}

/// `ticket.opened`'s `priority`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Low,
    Normal,
    High,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
        }
    }
}

/// How the customer sounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tone {
    Neutral,
    Polite,
    Angry,
    Desperate,
    Sarcastic,
}

/// What the simulator knows about the customer opening the ticket.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketContext {
    /// The customer's home cell, e.g. `NL-AMS-042`.
    pub cell: String,
    /// The plan's name, e.g. `postpaid-m`.
    pub plan: &'static str,
    /// When the trouble started, as a customer says it: `Monday`, `the weekend`.
    pub weekday: &'static str,
    /// `phone`, `chat`, `email` or `shop`: it shapes the wording.
    pub channel: &'static str,
    pub monthly_fee_eur: f64,
    /// The customer's latest (or next) bill.
    pub bill_eur: f64,
}

/// One generated ticket and its labels. As JSON, one object a line, it is
/// what `bss-intel train` reads (`{"class": "network", "text": ...}`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct TicketText {
    pub class: TicketClass,
    /// The intent's name, e.g. `double_charge`: finer than the class.
    pub intent: &'static str,
    pub priority: Priority,
    pub text: String,
}

/// How pressing an intent is before the tone is heard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Urgency {
    /// Thanks and praise: always low, and never said angrily.
    Praise,
    /// A question: low, normal when the customer is upset.
    Question,
    /// Something to be done or something broken: normal, high when upset.
    Request,
    /// Service gone or money taken: high whatever the tone.
    Urgent,
}

struct Intent {
    class: TicketClass,
    name: &'static str,
    urgency: Urgency,
    /// First-person sentences; `{cell}`, `{plan}`, `{day}`, `{days}`,
    /// `{months}`, `{years}`, `{amount}` and `{fee}` are filled in.
    phrasings: &'static [&'static str],
}

const fn intent(
    class: TicketClass,
    name: &'static str,
    urgency: Urgency,
    phrasings: &'static [&'static str],
) -> Intent {
    Intent {
        class,
        name,
        urgency,
        phrasings,
    }
}

use TicketClass::{Billing, Contract, Device, Network, Other};
use Urgency::{Praise, Question, Request, Urgent};

const INTENTS: &[Intent] = &[
    // network
    intent(Network, "no_signal", Urgent, &[
        "There has been no coverage at all at my place since {day}.",
        "My phone shows zero bars anywhere near {cell}, and it has been like that since {day}.",
        "I have had no reception whatsoever at home for {days} days.",
        "The mobile network has simply vanished at my address.",
        "Since {day} my handset keeps saying it cannot find a network around {cell}.",
        "Not one bar of signal here since {day}, the phone is useless.",
        "I can't get any signal at all in my own street anymore.",
    ]),
    intent(Network, "dropped_calls", Request, &[
        "My calls get cut off after a few seconds, every single time.",
        "Phone calls keep dropping in the middle of a conversation.",
        "Every call I make disconnects within a minute or two.",
        "Calls around {cell} drop constantly, I can't finish one conversation.",
        "I keep losing calls halfway, the line just goes dead.",
        "Since {day} my conversations are cut short because the call falls away.",
    ]),
    intent(Network, "slow_data", Request, &[
        "Mobile data has become extremely slow, pages take forever to load.",
        "My 4G speed is a fraction of what it used to be, especially at night.",
        "Mobile internet barely works around {cell}, a speed test shows less than 1 Mbit.",
        "Data is so sluggish that even sending a photo hangs.",
        "Browsing on mobile data has been painfully slow since {day}.",
        "Streaming is impossible, my data connection crawls on {plan}.",
    ]),
    intent(Network, "area_outage", Urgent, &[
        "It looks like the whole neighbourhood around {cell} is down, nobody here can call or go online.",
        "Is there a network failure in my area? Everything stopped working on {day}.",
        "There seems to be a big outage near {cell}: no calls, no data, no texts.",
        "The entire street lost mobile service at once on {day}, when will it be restored?",
        "All the phones in our building are without network since this morning, it must be an outage.",
        "Your network is down in my town, I have checked with several neighbours.",
    ]),
    intent(Network, "no_5g_4g", Request, &[
        "My phone no longer gets 5G, it falls back to 4G everywhere.",
        "I pay for {plan} which should include 5G, but I only ever see 4G.",
        "4G has disappeared on my line, the phone only shows 3G or H+.",
        "The 5G symbol never shows up near {cell} although it did last month.",
        "I'm stuck on 4G even in places where you advertise 5G coverage.",
    ]),
    intent(Network, "roaming_not_working", Urgent, &[
        "I'm abroad and my phone will not connect to any partner network.",
        "Roaming does not work: I arrived in Germany on {day} and still have no service.",
        "Data roaming is switched on but I can't get online outside the Netherlands.",
        "My line doesn't work in France at all, calls fail and there's no mobile internet.",
        "Travelling in Italy right now and my SIM won't register on a local network.",
        "On holiday in Greece and I have been without service for {days} days.",
    ]),
    intent(Network, "sms_not_arriving", Request, &[
        "Text messages are not being delivered to me since {day}.",
        "My SMS messages never reach the people I send them to.",
        "Verification codes by SMS don't arrive, so I can't log in to my bank.",
        "I'm not receiving any texts, though calls come in normally.",
        "Messages from some senders never show up on my phone.",
    ]),
    intent(Network, "wifi_calling", Request, &[
        "Wifi calling stopped working on my line.",
        "Calls over wifi fail since {day}, and at home that's the only way I can call.",
        "The wifi calling option is gone from my settings and I rely on it indoors.",
        "On my home wifi my calls don't connect anymore, wifi calling seems broken.",
        "Wifi calling keeps switching itself off and my calls fail indoors.",
    ]),
    intent(Network, "indoor_coverage", Request, &[
        "Coverage inside my house is very weak, I have to stand by the window to make a call.",
        "Indoors the signal is almost nothing, while outside it's fine.",
        "At my office near {cell} the reception inside the building is terrible.",
        "I can only call from the balcony, inside the flat the connection is too poor.",
        "Inside my home I have one bar at most, calls are hardly possible.",
    ]),
    intent(Network, "call_quality", Request, &[
        "The voice quality on my calls is bad, the other side sounds robotic.",
        "There is a lot of noise and delay on my calls lately.",
        "People tell me they can hardly hear me, my voice keeps cutting out during calls.",
        "Calls sound distorted and there are gaps of silence since {day}.",
    ]),
    intent(Network, "unreachable", Urgent, &[
        "Nobody can call me, callers hear that my number is unavailable.",
        "Incoming calls don't come through, they go straight to voicemail.",
        "I can't receive calls since {day}, though I can still call out.",
        "My number seems unreachable for everyone who tries to ring me.",
    ]),
    intent(Network, "intermittent_connection", Request, &[
        "My connection drops out every few minutes and then returns.",
        "The network keeps coming and going all day near {cell}.",
        "Service is on and off, one moment I have full bars and then nothing.",
        "My mobile connection has been unstable for {days} days.",
    ]),
    intent(Network, "tethering", Request, &[
        "Sharing my mobile internet with my laptop no longer works, the laptop connects but gets no internet.",
        "Tethering gives no connection since {day}.",
        "My personal hotspot stopped passing any data to other devices.",
    ]),
    // billing
    intent(Billing, "double_charge", Urgent, &[
        "I've been charged twice for the same month.",
        "The amount of {amount} was debited from my account two times.",
        "You took my monthly payment twice this month.",
        "There are two identical debits of {fee} on my bank statement.",
        "My invoice was collected double, once at the start of the month and again a few days later.",
        "I see the same charge of {fee} twice on my bank account.",
    ]),
    intent(Billing, "high_invoice", Request, &[
        "My latest invoice is {amount}, while I normally pay about {fee} on {plan}.",
        "This month's bill is far higher than usual and I don't understand why.",
        "I got a bill of {amount}, that can't be right for {plan}.",
        "The invoice total jumped to {amount} without me using anything extra.",
        "Why is my bill suddenly so expensive? It says {amount}.",
        "I was shocked by my invoice of {amount}, it's usually around {fee}.",
    ]),
    intent(Billing, "refund", Request, &[
        "I'm still waiting for the refund you promised me.",
        "Please refund the {amount} I paid too much.",
        "When will the money be returned to my account? It's been {days} days.",
        "I was told I would get money back but nothing has arrived.",
        "I want the overpaid amount of {amount} returned to me.",
    ]),
    intent(Billing, "failed_direct_debit", Request, &[
        "The direct debit for my invoice failed and I don't know why.",
        "Your collection of {amount} was rejected by my bank, what should I do now?",
        "I got a notice that the automatic payment didn't go through.",
        "My direct debit bounced this month although there was enough money in my account.",
        "The monthly collection of {fee} failed on {day}.",
    ]),
    intent(Billing, "roaming_charges", Request, &[
        "There are roaming charges on my bill although I stayed within the EU.",
        "I was billed {amount} for using data abroad, I thought roaming was included in {plan}.",
        "My invoice shows costs for calls made abroad that I don't recognise.",
        "After a short trip to Belgium my bill includes huge roaming fees.",
        "The roaming costs on this invoice are way too high for a few days away.",
    ]),
    intent(Billing, "wrong_vat", Request, &[
        "The VAT on my invoice seems to be calculated wrongly.",
        "You charged VAT twice on one line of my bill.",
        "As a business customer I need an invoice with the correct VAT amount, this one is wrong.",
        "The tax percentage on my invoice doesn't match the legal rate.",
    ]),
    intent(Billing, "late_fee", Request, &[
        "I got a late payment fee although I paid before the due date.",
        "Why am I being fined for paying late? The payment left my account in time.",
        "A reminder fee was added to my account that I don't think is fair.",
        "There's an extra charge for late payment on my invoice, but I was never late.",
    ]),
    intent(Billing, "payment_not_registered", Request, &[
        "I paid my invoice on {day} but your system still shows it as open.",
        "My transfer of {amount} is not showing on my account.",
        "You sent me a reminder for a bill I already settled.",
        "The payment I made is not registered, and now I'm getting warnings.",
        "My bank confirms the payment of {amount}, yet you say it's outstanding.",
    ]),
    intent(Billing, "premium_sms", Urgent, &[
        "My bill contains charges for premium text services I never signed up for.",
        "I'm being billed for paid SMS subscriptions I know nothing about.",
        "There's {amount} in charges from some SMS service on my invoice, please block and remove it.",
        "Someone subscribed my number to a paid SMS service and you are charging me for it.",
    ]),
    intent(Billing, "credit_note", Request, &[
        "Could you send me a credit note for the corrected amount?",
        "I need a credit invoice for the overcharge we discussed on the phone.",
        "The compensation you agreed to is not on my bill yet, please issue the credit.",
        "Please credit the {amount} you billed by mistake.",
    ]),
    intent(Billing, "explain_invoice", Question, &[
        "Could someone explain the different items on my invoice?",
        "What exactly is the charge called 'other costs' on my bill?",
        "I'd like a breakdown of my last invoice, I don't understand the extra costs.",
        "Which services make up the {amount} I'm billed this month?",
    ]),
    intent(Billing, "payment_method", Request, &[
        "I want to switch from direct debit to paying by credit card.",
        "Please update the bank account you collect my payments from.",
        "Can I pay my invoices by bank transfer instead of automatic collection?",
    ]),
    intent(Billing, "billed_after_cancellation", Urgent, &[
        "You're still billing me after I cancelled.",
        "Money is still being taken from my account although my subscription was ended.",
        "I left you months ago and you still collect {fee} every month.",
    ]),
    // device
    intent(Device, "phone_not_registering", Request, &[
        "My phone won't register on the network, it stays on searching.",
        "The handset keeps saying not registered, even after a restart.",
        "After inserting my card the phone never logs on to the network.",
        "My new phone refuses to connect to your network while my old one works with the same card.",
    ]),
    intent(Device, "sim_not_recognised", Request, &[
        "My phone doesn't recognise the SIM card anymore.",
        "The phone says there is no SIM inserted, but it is in there.",
        "I get a SIM card error message since {day}.",
        "The new SIM you sent is not detected by my phone.",
        "My SIM stopped being read by the phone after I took it out once.",
    ]),
    intent(Device, "esim_activation", Request, &[
        "I can't get my eSIM activated, the code fails.",
        "The eSIM profile won't download to my new phone.",
        "Scanning the eSIM code gives an error every time.",
        "I'm trying to move my eSIM to another phone and it gets stuck.",
        "My eSIM has been waiting for activation for {days} days.",
    ]),
    intent(Device, "puk_blocked", Urgent, &[
        "My SIM is blocked and the phone is asking for a PUK code.",
        "I typed the wrong PIN too often and now I need the PUK.",
        "Phone locked: it wants a PUK and I have no idea where to find it.",
        "My card is blocked after three wrong PIN attempts.",
    ]),
    intent(Device, "repair_warranty", Request, &[
        "My handset is broken and still under warranty, how do I get it repaired?",
        "The screen of the phone I bought from you stopped working, I want it fixed under warranty.",
        "I sent my phone in for repair {days} days ago and haven't heard anything.",
        "The battery of my phone died after {months} months, is this covered?",
        "The charging port of my phone is faulty, can it be repaired?",
    ]),
    intent(Device, "apn_mms_settings", Question, &[
        "What are the correct APN settings for your network? Mobile internet doesn't work on my new phone.",
        "I can't send or receive MMS, I think my settings are wrong.",
        "Which settings do I need for picture messages on an Android phone?",
        "Can you send me the internet settings for my phone by text?",
    ]),
    intent(Device, "voicemail_setup", Question, &[
        "How do I set up my voicemail?",
        "I want to change my voicemail greeting but I don't know how.",
        "My voicemail isn't working, callers don't get the option to leave a message.",
        "Which number do I dial to listen to my voicemail?",
    ]),
    intent(Device, "router_modem", Request, &[
        "The modem for my home internet keeps restarting.",
        "My router has no internet light and resetting doesn't help.",
        "The home internet box you delivered doesn't connect at all.",
        "The wifi from your router doesn't reach the upstairs rooms.",
        "My router has been blinking red since {day}.",
    ]),
    intent(Device, "overheating_after_update", Request, &[
        "Since the latest update my phone gets very hot and the battery runs down quickly.",
        "My phone overheats after the software update, even when I'm not using it.",
        "After updating the phone it heats up so much that it switches off.",
        "The phone became hot and slow right after the system update on {day}.",
    ]),
    intent(Device, "lost_or_stolen", Urgent, &[
        "My phone was stolen, please block my SIM and send a new one.",
        "I lost my phone today, can you block the card so nobody can use it?",
        "My bag with my phone was taken on {day}, please block the number.",
    ]),
    intent(Device, "replacement_sim", Request, &[
        "I need a replacement SIM in a smaller size.",
        "Please send me a new SIM card, mine is damaged.",
        "Can I get a new SIM card? The old one is worn out.",
    ]),
    intent(Device, "sim_lock", Request, &[
        "My phone is still locked to your network, I'd like the unlock code.",
        "Could you remove the SIM lock from my handset so I can use a card from another provider?",
        "The phone I bought with my contract only accepts your cards, please unlock it.",
    ]),
    // contract
    intent(Contract, "change_plan", Request, &[
        "I'd like to switch from {plan} to a different plan.",
        "Can I change my subscription to a plan with more data?",
        "Please move me from {plan} to another package.",
        "I want a different plan than {plan}, what are my options?",
    ]),
    intent(Contract, "upgrade_plan", Request, &[
        "I want to upgrade my plan, {plan} isn't enough anymore.",
        "What does it cost to go up to a larger bundle?",
        "Please upgrade my subscription to unlimited data.",
        "I keep running out of data on {plan}, I'd like a bigger bundle.",
    ]),
    intent(Contract, "downgrade_plan", Request, &[
        "I want a cheaper plan, {plan} is more than I need.",
        "Can I go down to a smaller bundle at the end of this month?",
        "Please lower my subscription, I hardly use my data.",
        "I'd like to step down from {plan} to something basic.",
    ]),
    intent(Contract, "cancel", Request, &[
        "I want to cancel my subscription.",
        "Please end my contract as soon as possible.",
        "I would like to terminate my {plan} subscription.",
        "How do I stop my subscription with you?",
        "Consider this my cancellation, I'm done with {plan}.",
    ]),
    intent(Contract, "port_out", Request, &[
        "I'm moving to another operator and want to keep my phone number.",
        "Please tell me what I need to take my number to a different provider.",
        "My number transfer to a new network is being blocked, please release it.",
        "I'm leaving and want to port my number out.",
    ]),
    intent(Contract, "port_in", Request, &[
        "I want to bring my current number over to you from my old operator.",
        "My number porting from my previous provider hasn't completed after {days} days.",
        "Can I keep my existing number when I join you?",
    ]),
    intent(Contract, "contract_end_date", Question, &[
        "When does my contract end?",
        "Could you tell me the end date of my {plan} contract?",
        "Until what date am I bound to my current contract?",
        "How long do I still have on my contract?",
    ]),
    intent(Contract, "move_address", Request, &[
        "I'm moving house and want my home internet transferred to the new address.",
        "We move on {day}, can the connection move with us?",
        "Please change my address, my subscription should continue at my new home.",
    ]),
    intent(Contract, "add_line", Request, &[
        "I'd like an extra line on my account for my son.",
        "Can I add another SIM to my subscription?",
        "Please add a second number to my contract for my partner.",
    ]),
    intent(Contract, "transfer_ownership", Request, &[
        "I want to put the contract in someone else's name.",
        "The subscription needs to be transferred to my partner.",
        "How do I hand my contract over to my daughter?",
    ]),
    intent(Contract, "notice_period", Question, &[
        "What is the notice period for my subscription?",
        "How many months in advance do I have to give notice?",
        "If I cancel now, when does my subscription actually stop?",
    ]),
    intent(Contract, "price_increase_objection", Request, &[
        "I do not agree with the price increase on my subscription.",
        "You raised the price of {plan} without asking me, I object.",
        "The new monthly fee is more than what I signed up for.",
        "I refuse the announced price change on {plan}.",
    ]),
    intent(Contract, "renewal", Request, &[
        "My contract is about to expire and I'd like to renew it with a new phone.",
        "Can I extend my contract and get the loyalty offer?",
        "I'd like to renew {plan} for another year.",
    ]),
    // other
    intent(Other, "thanks", Praise, &[
        "Thank you for the quick help on {day}.",
        "Many thanks to the employee who helped me on {day}.",
        "Just a short note to say thanks, everything works again.",
        "I want to thank your team for solving my problem so fast.",
        "Thanks a million for sorting things out.",
    ]),
    intent(Other, "praise", Praise, &[
        "Your new app is really easy to use, well done.",
        "Great service in the shop, the staff were very helpful.",
        "I've been a happy customer for {years} years and wanted to say so.",
        "The technician who visited was professional and kind.",
    ]),
    intent(Other, "staff_complaint", Request, &[
        "The employee in your store was very unfriendly to me.",
        "I want to complain about how I was treated by one of your shop workers.",
        "The person on your helpline was rude and ended the call.",
        "Your sales person gave me wrong information and was impolite.",
    ]),
    intent(Other, "wait_times", Request, &[
        "I was on hold for over an hour before someone picked up.",
        "It is impossible to reach your customer service, the waiting times are absurd.",
        "Waiting {days} days for an answer to an email is too long.",
        "The queue in your shop was so long that I gave up.",
    ]),
    intent(Other, "privacy_request", Request, &[
        "I want to receive an overview of all personal data you store about me.",
        "Please delete my personal data from your systems.",
        "Under the GDPR I ask you to tell me what information you have on me.",
        "I'd like to know who you share my details with.",
    ]),
    intent(Other, "opening_hours", Question, &[
        "What time does your shop open on Saturday?",
        "Are your stores open on public holidays?",
        "Until when can I reach customer service by phone in the evening?",
        "Is the shop in the city centre open on {day}?",
    ]),
    intent(Other, "general_question", Question, &[
        "Where is your nearest shop?",
        "Is there a helpdesk that speaks English?",
        "How can I contact you by letter?",
        "Do you take back old phones for recycling?",
    ]),
    intent(Other, "marketing_opt_out", Request, &[
        "Please stop sending me advertising emails.",
        "I don't want any more promotional texts from you.",
        "Remove me from all your marketing calls.",
        "Unsubscribe me from every newsletter and offer you send.",
    ]),
    intent(Other, "suggestion", Question, &[
        "A suggestion: it would be nice if the app showed usage per day.",
        "Your website is confusing, it took me ages to find the contact page.",
        "Please consider adding live chat in the evenings.",
    ]),
    intent(Other, "scam_report", Request, &[
        "I received a suspicious message pretending to be from you.",
        "Someone called me saying they were from your company and asked for my bank details.",
        "There's a fake website using your logo, you should know about it.",
    ]),
    intent(Other, "unanswered_complaint", Request, &[
        "My earlier complaint was never answered.",
        "I've been promised a call back several times and nobody ever called.",
        "It's been {days} days since I filed a complaint and I've heard nothing.",
    ]),
];

/// Context sentences a customer of each class adds after the main point.
fn details(class: TicketClass) -> &'static [&'static str] {
    match class {
        Network => &[
            "I'm usually near cell {cell}.",
            "It started on {day}.",
            "This has been going on for {days} days.",
            "My plan is {plan}.",
            "Restarting the phone did not help.",
            "My neighbours have the same problem.",
            "I already switched flight mode on and off.",
            "It happens mostly in the evening.",
        ],
        Billing => &[
            "I'm on {plan}, which costs {fee} a month.",
            "The amount involved is {amount}.",
            "It concerns the invoice I received on {day}.",
            "My bank statement shows it clearly.",
            "I have been a customer for {years} years.",
            "My usual bill is {fee}.",
        ],
        Device => &[
            "The phone is about {months} months old.",
            "I already restarted it and took the SIM out and back in.",
            "My subscription is {plan}.",
            "It started on {day}.",
            "I bought it in one of your shops.",
        ],
        Contract => &[
            "I'm currently on {plan} at {fee} per month.",
            "I've been with you for {years} years.",
            "I'd like this to take effect from next month.",
            "My customer number should be on this ticket.",
        ],
        Other => &[
            "It was on {day}.",
            "I've been a customer for {years} years.",
            "This is not the first time.",
        ],
    }
}

/// A second topic mentioned in passing, by the class it belongs to. The
/// ticket's label stays the primary intent; these teach that a word like
/// "outage" in a billing ticket does not make it a network ticket.
fn asides(class: TicketClass) -> &'static [&'static str] {
    match class {
        Network => &[
            "This all began after the outage near {cell} on {day}.",
            "The coverage at my place is also poor, but that's for another time.",
            "I also had no reception for a while last month.",
            "And yes, your network was down on {day} as well.",
        ],
        Billing => &[
            "My last invoice was odd as well, but let's deal with this first.",
            "I'm still paying {fee} a month for all this.",
            "And I got a bill of {amount} in the meantime.",
            "Don't even get me started on the invoice.",
        ],
        Device => &[
            "I recently got a new phone, if that matters.",
            "I also had trouble with my SIM earlier this year.",
            "My router acts up sometimes too, but never mind that.",
        ],
        Contract => &[
            "I'm considering switching plans anyway.",
            "My contract runs out soon, so I'd like this sorted quickly.",
            "If this goes on I'll look at other providers.",
        ],
        Other => &[
            "Your phone queue was also far too long when I tried to call.",
            "The staff in the shop couldn't help me either.",
            "I've already written about this in your feedback form.",
        ],
    }
}

fn openers(tone: Tone) -> &'static [&'static str] {
    match tone {
        Tone::Neutral => &[
            "Hello,",
            "Hi,",
            "Hi there,",
            "Good morning,",
            "Good afternoon,",
            "Hey,",
            "Dear support,",
        ],
        Tone::Polite => &[
            "Dear customer service,",
            "Good evening,",
            "I hope you can help me.",
            "Sorry to bother you,",
            "To whom it may concern,",
            "Dear Sir or Madam,",
        ],
        Tone::Angry => &[
            "I'm furious.",
            "Again!",
            "Seriously?",
            "This is the third time I'm contacting you.",
            "Listen.",
        ],
        Tone::Desperate => &[
            "Please help!",
            "I'm desperate.",
            "Urgent:",
            "Help me please,",
            "I don't know where else to turn.",
        ],
        Tone::Sarcastic => &[
            "Well, here we go again.",
            "Oh great,",
            "Congratulations,",
            "Another fine day with your company.",
        ],
    }
}

/// A sentence that carries the tone after the main point.
fn tone_lines(tone: Tone) -> &'static [&'static str] {
    match tone {
        Tone::Neutral => &[
            "Can you look into it?",
            "Please check.",
            "Let me know what you find.",
        ],
        Tone::Polite => &[
            "I'd be grateful for your help.",
            "Thank you for looking into it.",
            "I hope this can be resolved soon.",
        ],
        Tone::Angry => &[
            "This is unacceptable.",
            "I am really fed up.",
            "Sort this out today.",
            "I've had enough of this.",
            "Completely ridiculous.",
        ],
        Tone::Desperate => &[
            "I really don't know what to do anymore.",
            "Please, I depend on this.",
            "I'm at my wits' end.",
            "Nothing I try works.",
        ],
        Tone::Sarcastic => &[
            "Great service, really.",
            "Wonderful, just what I needed this week.",
            "Thanks for nothing so far.",
            "Another triumph of customer care.",
        ],
    }
}

fn closers(tone: Tone) -> &'static [&'static str] {
    match tone {
        Tone::Neutral => &[
            "Thanks.",
            "Regards.",
            "Best,",
            "Cheers.",
            "Please get back to me.",
            "Waiting for your reply.",
        ],
        Tone::Polite => &[
            "Thanks in advance.",
            "Kind regards.",
            "Thank you very much.",
            "Have a nice day.",
            "Looking forward to your answer.",
        ],
        Tone::Angry => &[
            "I expect an answer today.",
            "Otherwise I'm going to the ombudsman.",
            "Don't make me call again.",
        ],
        Tone::Desperate => &["Please hurry.", "Please call me back as soon as you can."],
        Tone::Sarcastic => &[
            "Can't wait to hear from you. Really.",
            "Take your time, as usual.",
        ],
    }
}

/// How an agent writes down what was said on the phone or at the counter.
fn transcript_prefixes(channel: &str) -> &'static [&'static str] {
    match channel {
        "phone" => &["Caller says: ", "Customer on the phone: ", "Call notes: "],
        "shop" => &["At the counter: ", "Customer in store: "],
        "chat" => &["chat: ", "Chat message: "],
        _ => &[],
    }
}

/// Words an angry customer shouts.
const SHOUTED: &[&str] = &["NOW", "AGAIN", "NOTHING", "NEVER", "STILL", "TODAY"];

/// The priority a simulator would give: urgent intents are high, praise is
/// low, and an angry or desperate customer moves a ticket up one step.
fn priority(urgency: Urgency, tone: Tone) -> Priority {
    let upset = matches!(tone, Tone::Angry | Tone::Desperate);
    match (urgency, upset) {
        (Urgency::Praise, _) => Priority::Low,
        (Urgency::Question, false) => Priority::Low,
        (Urgency::Question, true) | (Urgency::Request, false) => Priority::Normal,
        (Urgency::Request, true) | (Urgency::Urgent, _) => Priority::High,
    }
}

fn draw_tone(rng: &mut impl Rng, urgency: Urgency) -> Tone {
    if urgency == Urgency::Praise {
        return if rng.random_bool(0.5) {
            Tone::Polite
        } else {
            Tone::Neutral
        };
    }
    match rng.random_range(0..20) {
        0..=6 => Tone::Neutral,
        7..=11 => Tone::Polite,
        12..=15 => Tone::Angry,
        16..=17 => Tone::Desperate,
        _ => Tone::Sarcastic,
    }
}

/// The values a phrasing's `{slots}` are filled with.
struct Slots<'a> {
    ctx: &'a TicketContext,
    amount: String,
    fee: String,
    days: u32,
    months: u32,
    years: u32,
}

impl<'a> Slots<'a> {
    fn draw(rng: &mut impl Rng, ctx: &'a TicketContext) -> Self {
        // A bill close to the fee would not be a complaint; a real surprise
        // is a multiple of it.
        let high = if ctx.bill_eur > ctx.monthly_fee_eur * 1.5 {
            ctx.bill_eur
        } else {
            ctx.monthly_fee_eur.max(5.0) * rng.random_range(2.0..6.0)
        };
        let style = rng.random_range(0..3);
        Slots {
            ctx,
            amount: euros(high, style),
            fee: euros(ctx.monthly_fee_eur, style),
            days: rng.random_range(2..=14),
            months: rng.random_range(1..=23),
            years: rng.random_range(1..=15),
        }
    }

    fn fill(&self, template: &str) -> String {
        if !template.contains('{') {
            return template.to_owned();
        }
        template
            .replace("{cell}", &self.ctx.cell)
            .replace("{plan}", self.ctx.plan)
            .replace("{day}", self.ctx.weekday)
            .replace("{days}", &self.days.to_string())
            .replace("{months}", &self.months.to_string())
            .replace("{years}", &self.years.to_string())
            .replace("{amount}", &self.amount)
            .replace("{fee}", &self.fee)
    }
}

fn euros(amount: f64, style: u32) -> String {
    match style {
        0 => format!("€{amount:.2}"),
        1 => format!("{amount:.2} euros"),
        _ => format!("EUR {amount:.2}"),
    }
}

fn pick<'s>(rng: &mut impl Rng, list: &[&'s str]) -> &'s str {
    list.choose(rng).copied().unwrap_or("")
}

/// A ticket of any class, its class drawn uniformly.
pub fn generate(rng: &mut impl Rng, ctx: &TicketContext) -> TicketText {
    let class = TicketClass::ALL[rng.random_range(0..TicketClass::ALL.len())];
    generate_class(rng, ctx, class)
}

/// A ticket whose primary intent belongs to `class`.
pub fn generate_class(rng: &mut impl Rng, ctx: &TicketContext, class: TicketClass) -> TicketText {
    let intents: Vec<&Intent> = INTENTS.iter().filter(|i| i.class == class).collect();
    let intent = intents[rng.random_range(0..intents.len())];
    let tone = draw_tone(rng, intent.urgency);
    let slots = Slots::draw(rng, ctx);

    let email = ctx.channel == "email";
    let opener = rng
        .random_bool(if email { 0.85 } else { 0.45 })
        .then(|| pick(rng, openers(tone)));
    let mut core = slots.fill(pick(rng, intent.phrasings));
    if opener.is_some_and(|o| o.ends_with(',')) {
        core = continuing(&core);
    }
    if tone == Tone::Angry && rng.random_bool(0.4) {
        core = shout(rng, &core);
    }
    if matches!(tone, Tone::Angry | Tone::Desperate) && rng.random_bool(0.4) {
        core = intensify_punctuation(&core, tone);
    }

    let mut parts: Vec<String> = Vec::with_capacity(7);
    parts.extend(opener.map(str::to_owned));
    parts.push(core);
    for _ in 0..rng.random_range(0..=2) {
        let detail = slots.fill(pick(rng, details(class)));
        if !parts.contains(&detail) {
            parts.push(detail);
        }
    }
    if rng.random_bool(ASIDE_SHARE) {
        let others: Vec<TicketClass> = TicketClass::ALL
            .into_iter()
            .filter(|c| *c != class)
            .collect();
        let other = others[rng.random_range(0..others.len())];
        parts.push(slots.fill(pick(rng, asides(other))));
    }
    if rng.random_bool(if tone == Tone::Neutral { 0.25 } else { 0.6 }) {
        parts.push(pick(rng, tone_lines(tone)).to_owned());
    }
    if rng.random_bool(if email { 0.8 } else { 0.35 }) {
        parts.push(pick(rng, closers(tone)).to_owned());
    }
    let mut text = parts.join(" ");

    let prefixes = transcript_prefixes(ctx.channel);
    if !prefixes.is_empty() && rng.random_bool(0.3) {
        text = format!("{}{text}", pick(rng, prefixes));
    }
    if ctx.channel == "chat" && rng.random_bool(0.4) {
        text = text.to_lowercase();
        if text.ends_with('.') {
            text.pop();
        }
    }
    if rng.random_bool(TYPO_TEXT_SHARE) {
        text = with_typos(rng, &text);
    }
    TicketText {
        class,
        intent: intent.name,
        priority: priority(intent.urgency, tone),
        text: clip(text),
    }
}

/// `per_class` tickets of each class, classes interleaved, for a seed; each
/// ticket's context drawn by `context` (the simulator's
/// `random_ticket_context` gives the contexts its own tickets have).
pub fn training_set(
    seed: u64,
    per_class: usize,
    mut context: impl FnMut(&mut ChaCha8Rng) -> TicketContext,
) -> Vec<TicketText> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(per_class * TicketClass::ALL.len());
    for _ in 0..per_class {
        for class in TicketClass::ALL {
            let ctx = context(&mut rng);
            out.push(generate_class(&mut rng, &ctx, class));
        }
    }
    out
}

/// `sentence` going on after an opener that ends in a comma ("Hello, my
/// ..."): its first word in lower case, unless it is "I" or an acronym.
fn continuing(sentence: &str) -> String {
    let first = sentence.split([' ', '\'']).next().unwrap_or("");
    let mut chars = first.chars();
    let capitalised_word = chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && !chars.as_str().is_empty()
        && chars.all(|c| !c.is_ascii_uppercase());
    if !capitalised_word {
        return sentence.to_owned();
    }
    let mut out = sentence.to_owned();
    out[..1].make_ascii_lowercase();
    out
}

/// One or two words in capitals, or the whole sentence.
fn shout(rng: &mut impl Rng, sentence: &str) -> String {
    if rng.random_bool(0.2) {
        return sentence.to_uppercase();
    }
    let mut words: Vec<String> = sentence.split(' ').map(str::to_owned).collect();
    for _ in 0..rng.random_range(1..=2) {
        let i = rng.random_range(0..words.len());
        if words[i].chars().count() >= 3 {
            words[i] = words[i].to_uppercase();
        }
    }
    if rng.random_bool(0.3) {
        words.push(pick(rng, SHOUTED).to_owned());
    }
    words.join(" ")
}

/// `!!!` or `??` at the end instead of a calm full stop or question mark.
fn intensify_punctuation(sentence: &str, tone: Tone) -> String {
    let trimmed = sentence.trim_end_matches(['.', '!', '?']);
    let question = sentence.ends_with('?');
    let mark = match (question, tone) {
        (true, Tone::Angry) => "???",
        (true, _) => "??",
        (false, Tone::Angry) => "!!!",
        (false, _) => "!!",
    };
    format!("{trimmed}{mark}")
}

/// Swapped, dropped or doubled letters in a few words of four letters or
/// more; words with digits or capitals inside (cell ids, plan names) keep
/// their spelling, as a customer copies those.
fn with_typos(rng: &mut impl Rng, text: &str) -> String {
    text.split(' ')
        .map(|word| {
            let letters: Vec<char> = word.chars().collect();
            let eligible = letters.len() >= 4
                && letters.iter().all(|c| c.is_ascii_lowercase())
                && rng.random_bool(TYPO_WORD_SHARE);
            if !eligible {
                return word.to_owned();
            }
            let mut w = letters;
            let i = rng.random_range(1..w.len() - 1);
            match rng.random_range(0..3) {
                0 => w.swap(i, i + 1),
                1 => {
                    w.remove(i);
                }
                _ => w.insert(i, w[i]),
            }
            w.into_iter().collect()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// At most `MAX_TEXT_CHARS` characters. Texts are far shorter; this only
/// keeps the schema's promise if phrase lists ever grow long.
fn clip(text: String) -> String {
    match text.char_indices().nth(MAX_TEXT_CHARS) {
        Some((cut, _)) => text[..cut].to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashSet};

    use super::*;

    fn ctx(rng: &mut ChaCha8Rng) -> TicketContext {
        let plans = [
            ("prepaid-s", 10.0),
            ("postpaid-m", 25.0),
            ("unlimited-xl", 45.0),
        ];
        let (plan, fee) = plans[rng.random_range(0..plans.len())];
        TicketContext {
            cell: format!("NL-AMS-{:03}", rng.random_range(1..=150)),
            plan,
            weekday: pick(rng, &["Monday", "Friday", "the weekend"]),
            channel: pick(rng, &["phone", "chat", "email", "shop"]),
            monthly_fee_eur: fee,
            bill_eur: fee + rng.random_range(0.0..60.0),
        }
    }

    #[test]
    fn every_class_yields_many_distinct_texts() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for class in TicketClass::ALL {
            let distinct: HashSet<String> = (0..20_000)
                .map(|_| {
                    let c = ctx(&mut rng);
                    generate_class(&mut rng, &c, class).text
                })
                .collect();
            assert!(
                distinct.len() >= 500,
                "{}: only {} distinct texts",
                class.as_str(),
                distinct.len()
            );
        }
    }

    #[test]
    fn every_class_has_many_intents_and_phrasings() {
        for class in TicketClass::ALL {
            let intents: Vec<&Intent> = INTENTS.iter().filter(|i| i.class == class).collect();
            let phrasings: HashSet<&str> = intents
                .iter()
                .flat_map(|i| i.phrasings.iter().copied())
                .collect();
            assert!(
                intents.len() >= 10,
                "{}: {} intents",
                class.as_str(),
                intents.len()
            );
            assert!(
                phrasings.len() >= 40,
                "{}: {} phrasings",
                class.as_str(),
                phrasings.len()
            );
            assert!(
                intents.iter().all(|i| i.phrasings.len() >= 3),
                "{}: an intent with few phrasings",
                class.as_str()
            );
        }
        let names: HashSet<&str> = INTENTS.iter().map(|i| i.name).collect();
        assert_eq!(names.len(), INTENTS.len(), "intent names are unique");
    }

    #[test]
    fn same_seed_gives_same_texts_and_another_seed_different_ones() {
        let a = training_set(42, 200, ctx);
        let b = training_set(42, 200, ctx);
        let c = training_set(43, 200, ctx);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn texts_are_non_empty_within_the_schema_limit_and_fully_filled() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for _ in 0..50_000 {
            let c = ctx(&mut rng);
            let t = generate(&mut rng, &c);
            let chars = t.text.chars().count();
            assert!(
                (1..=MAX_TEXT_CHARS).contains(&chars),
                "{chars} chars: {}",
                t.text
            );
            assert!(!t.text.trim().is_empty());
            assert!(
                !t.text.contains('{') && !t.text.contains('}'),
                "unfilled slot: {}",
                t.text
            );
            assert!(
                !t.text.contains('\t') && !t.text.contains('\n'),
                "one line, no tabs: {}",
                t.text
            );
        }
    }

    #[test]
    fn clip_keeps_at_most_the_schema_limit() {
        let long = "é".repeat(MAX_TEXT_CHARS + 10);
        assert_eq!(clip(long).chars().count(), MAX_TEXT_CHARS);
        assert_eq!(clip("short".into()), "short");
    }

    #[test]
    fn priority_follows_intent_and_tone() {
        assert_eq!(priority(Urgency::Urgent, Tone::Polite), Priority::High);
        assert_eq!(priority(Urgency::Request, Tone::Neutral), Priority::Normal);
        assert_eq!(priority(Urgency::Request, Tone::Angry), Priority::High);
        assert_eq!(priority(Urgency::Question, Tone::Neutral), Priority::Low);
        assert_eq!(
            priority(Urgency::Question, Tone::Desperate),
            Priority::Normal
        );
        assert_eq!(priority(Urgency::Praise, Tone::Polite), Priority::Low);
        // Over many draws, each class uses more than one priority and
        // outages and double charges are always high.
        let mut seen: BTreeMap<TicketClass, HashSet<Priority>> = BTreeMap::new();
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for _ in 0..5_000 {
            let c = ctx(&mut rng);
            let t = generate(&mut rng, &c);
            if matches!(t.intent, "area_outage" | "no_signal" | "double_charge") {
                assert_eq!(t.priority, Priority::High, "{t:?}");
            }
            if matches!(t.intent, "thanks" | "praise") {
                assert_eq!(t.priority, Priority::Low, "{t:?}");
            }
            seen.entry(t.class).or_default().insert(t.priority);
        }
        assert!(seen.values().all(|p| p.len() >= 2), "{seen:?}");
    }

    #[test]
    fn training_set_has_per_class_examples_of_each_class() {
        let set = training_set(9, 300, ctx);
        assert_eq!(set.len(), 300 * TicketClass::ALL.len());
        for class in TicketClass::ALL {
            assert_eq!(set.iter().filter(|t| t.class == class).count(), 300);
        }
        let intents: HashSet<&str> = set.iter().map(|t| t.intent).collect();
        assert_eq!(intents.len(), INTENTS.len(), "every intent appears");
    }

    #[test]
    fn labels_serialize_as_their_names() {
        for t in training_set(13, 20, ctx) {
            let json = serde_json::to_value(&t).expect("a ticket serializes");
            assert_eq!(json["class"], t.class.as_str());
            assert_eq!(json["priority"], t.priority.as_str());
            assert_eq!(json["text"], t.text.as_str());
        }
    }

    #[test]
    fn a_sentence_after_a_comma_opener_continues_in_lower_case() {
        assert_eq!(continuing("My SIM is blocked."), "my SIM is blocked.");
        assert_eq!(continuing("I lost my phone."), "I lost my phone.");
        assert_eq!(continuing("I'm abroad."), "I'm abroad.");
        assert_eq!(
            continuing("SMS from some senders."),
            "SMS from some senders."
        );
        assert_eq!(continuing("4G has disappeared."), "4G has disappeared.");
        assert_eq!(continuing(""), "");
    }

    #[test]
    fn typos_change_letters_only_in_plain_lowercase_words() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let text = "My phone near NL-AMS-042 on postpaid-m stopped working yesterday evening";
        let mut changed = 0;
        for _ in 0..200 {
            let t = with_typos(&mut rng, text);
            assert!(t.contains("NL-AMS-042") && t.contains("postpaid-m") && t.starts_with("My "));
            assert_eq!(t.split(' ').count(), text.split(' ').count());
            changed += usize::from(t != text);
        }
        assert!(changed > 20, "typos are rare but present: {changed} of 200");
    }
}
