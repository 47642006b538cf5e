//! What a key does to the view: keys 1-9 enlarge that camera, 0 or Esc go back to the grid,
//! Esc in the grid or q quit.

/// Which tiles are shown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Every tile, in a grid.
    #[default]
    Grid,
    /// Only the tile at this index, filling the window.
    Enlarged(usize),
}

/// A key the view reacts to, apart from which row of the keyboard it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ViewKey {
    /// A digit, from the top row or the keypad.
    Digit(u8),
    /// Esc.
    Escape,
    /// q.
    Quit,
}

/// What the window does after a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing changes.
    Stay,
    /// Show this instead.
    Switch(Mode),
    /// Close the viewer.
    Quit,
}

impl Mode {
    /// The action for `key` pressed in this mode with `tiles` tiles on screen. A digit with
    /// no tile behind it does nothing, and so does enlarging the only tile (it fills the
    /// window already, and a no-op enlargement would make the next Esc not quit).
    pub fn on_key(self, key: ViewKey, tiles: usize) -> Action {
        let mode = self.normalised(tiles);
        match (key, mode) {
            (ViewKey::Quit, _) | (ViewKey::Escape, Mode::Grid) => Action::Quit,
            (ViewKey::Escape, Mode::Enlarged(_)) | (ViewKey::Digit(0), Mode::Enlarged(_)) => {
                Action::Switch(Mode::Grid)
            }
            (ViewKey::Digit(d @ 1..=9), _) => {
                let i = d as usize - 1;
                if i < tiles && tiles > 1 && mode != Mode::Enlarged(i) {
                    Action::Switch(Mode::Enlarged(i))
                } else {
                    Action::Stay
                }
            }
            (ViewKey::Digit(_), _) => Action::Stay,
        }
    }

    /// The mode after the tile at `index` went away: back to the grid if it was the one
    /// enlarged, still the same camera if it was another.
    pub fn on_removed(self, index: usize) -> Mode {
        match self {
            Mode::Enlarged(i) if i == index => Mode::Grid,
            Mode::Enlarged(i) if i > index => Mode::Enlarged(i - 1),
            m => m,
        }
    }

    /// This mode made valid for `tiles` tiles: an enlargement of a tile that does not exist,
    /// or of the only one, is the grid.
    pub fn normalised(self, tiles: usize) -> Mode {
        match self {
            Mode::Enlarged(i) if i >= tiles || tiles <= 1 => Mode::Grid,
            m => m,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action::{Stay, Switch};
    use ViewKey::{Digit, Escape};

    #[test]
    fn digits_enlarge_existing_tiles_only() {
        assert_eq!(Mode::Grid.on_key(Digit(1), 4), Switch(Mode::Enlarged(0)));
        assert_eq!(Mode::Grid.on_key(Digit(4), 4), Switch(Mode::Enlarged(3)));
        assert_eq!(Mode::Grid.on_key(Digit(5), 4), Stay);
        assert_eq!(Mode::Grid.on_key(Digit(9), 16), Switch(Mode::Enlarged(8)));
        assert_eq!(
            Mode::Enlarged(0).on_key(Digit(2), 4),
            Switch(Mode::Enlarged(1))
        );
        assert_eq!(Mode::Enlarged(1).on_key(Digit(2), 4), Stay);
        assert_eq!(
            Mode::Grid.on_key(Digit(1), 1),
            Stay,
            "the only tile is full already"
        );
        assert_eq!(Mode::Grid.on_key(Digit(1), 0), Stay);
        assert_eq!(Mode::Grid.on_key(Digit(0), 4), Stay);
        assert_eq!(Mode::Grid.on_key(Digit(200), 4), Stay);
    }

    #[test]
    fn zero_and_escape_go_back_and_escape_in_the_grid_quits() {
        assert_eq!(Mode::Enlarged(2).on_key(Digit(0), 4), Switch(Mode::Grid));
        assert_eq!(Mode::Enlarged(2).on_key(Escape, 4), Switch(Mode::Grid));
        assert_eq!(Mode::Grid.on_key(Escape, 4), Action::Quit);
        assert_eq!(Mode::Grid.on_key(Escape, 0), Action::Quit);
        assert_eq!(Mode::Enlarged(2).on_key(ViewKey::Quit, 4), Action::Quit);
        assert_eq!(Mode::Grid.on_key(ViewKey::Quit, 1), Action::Quit);
        // An enlargement whose tile went away is the grid: Esc quits.
        assert_eq!(Mode::Enlarged(5).on_key(Escape, 3), Action::Quit);
    }

    #[test]
    fn removal_keeps_the_enlarged_camera() {
        assert_eq!(Mode::Enlarged(2).on_removed(2), Mode::Grid);
        assert_eq!(Mode::Enlarged(2).on_removed(0), Mode::Enlarged(1));
        assert_eq!(Mode::Enlarged(2).on_removed(3), Mode::Enlarged(2));
        assert_eq!(Mode::Grid.on_removed(0), Mode::Grid);
        assert_eq!(Mode::Enlarged(0).normalised(1), Mode::Grid);
        assert_eq!(Mode::Enlarged(1).normalised(2), Mode::Enlarged(1));
    }
}
