//! Shipment statuses: the SPEC's closed list.

/// Shipment statuses (SPEC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    Booked,
    Departed,
    InTransit,
    CustomsHold,
    Arrived,
    Cancelled,
}

impl Status {
    /// Every status, in declaration order: `Status::ALL[s as usize] == s`.
    pub const ALL: [Status; 6] = [
        Status::Booked,
        Status::Departed,
        Status::InTransit,
        Status::CustomsHold,
        Status::Arrived,
        Status::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Booked => "booked",
            Status::Departed => "departed",
            Status::InTransit => "in_transit",
            Status::CustomsHold => "customs_hold",
            Status::Arrived => "arrived",
            Status::Cancelled => "cancelled",
        }
    }

    /// The canonical names exactly as written.
    pub fn exact(s: &str) -> Option<Self> {
        Some(match s {
            "booked" => Status::Booked,
            "departed" => Status::Departed,
            "in_transit" => Status::InTransit,
            "customs_hold" => Status::CustomsHold,
            "arrived" => Status::Arrived,
            "cancelled" => Status::Cancelled,
            _ => return None,
        })
    }

    /// The canonical names, after trimming and case folding.
    pub fn parse(s: &str) -> Option<Self> {
        match fold(s).as_str() {
            "canceled" => Some(Status::Cancelled),
            folded => Status::exact(folded),
        }
    }
}

/// Case folding for vocabularies: trim, lowercase, and treat spaces and
/// hyphens as underscores (`In Transit`, `in-transit` → `in_transit`).
pub fn fold(s: &str) -> String {
    s.trim()
        .chars()
        .map(|c| match c {
            ' ' | '-' => '_',
            c => c.to_ascii_lowercase(),
        })
        .flat_map(char::to_lowercase)
        .collect()
}
