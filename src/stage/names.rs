//! Warehouse and provider names, numbered once across all feeds, so keys
//! compare by number.

use hashbrown::HashMap;

/// Strings numbered across all feeds (staged on several threads), so keys
/// compare across feeds by number. Each feed keeps its own cache in front.
#[derive(Debug, Default)]
pub struct Names(std::sync::Mutex<Interner>);

impl Names {
    pub fn id(&self, s: &str) -> u32 {
        self.0.lock().expect("no poisoned names").intern(s)
    }

    /// Every name, indexed by id.
    pub fn all(&self) -> Vec<Box<str>> {
        self.0.lock().expect("no poisoned names").strings.clone()
    }

    /// The names of these ids.
    pub fn all_of(&self, ids: &[u32]) -> Vec<Box<str>> {
        let names = self.0.lock().expect("no poisoned names");
        ids.iter()
            .map(|&i| names.strings[i as usize].clone())
            .collect()
    }
}

/// Strings seen in one feed, stored once.
#[derive(Debug, Default, Clone)]
pub struct Interner {
    ids: HashMap<Box<str>, u32>,
    pub strings: Vec<Box<str>>,
}

impl Interner {
    pub fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.strings.len() as u32;
        self.strings.push(s.into());
        self.ids.insert(s.into(), id);
        id
    }

    pub fn get(&self, id: u32) -> &str {
        &self.strings[id as usize]
    }
}
