import { Absences } from '../../src/arbiter/absences';

describe("the arbiter's absences", () => {
  it('a wake-up on time is no absence: silence is the whole time', () => {
    const absences = new Absences();
    expect(absences.woke(1000, 2000, 2200)).toBe(0);
    expect(absences.present(0, 5000)).toBe(5000);
  });

  it('a late wake-up takes its whole sleep out of every silence that spans it', () => {
    const absences = new Absences();
    // Asleep at 1000, due at 2000, back at 12000: stopped for about ten seconds.
    expect(absences.woke(1000, 2000, 12_000)).toBe(10_000);
    expect(absences.present(500, 12_100)).toBe(500 + 100);
    // A beat heard after the return is not touched by it.
    expect(absences.present(12_050, 14_000)).toBe(1950);
    // Part of it, for a silence that began while the arbiter was away.
    expect(absences.present(6000, 13_000)).toBe(1000);
  });

  it('a wake-up somewhat late takes out its lateness and as much again, not its whole sleep', () => {
    const absences = new Absences();
    expect(absences.woke(1000, 2000, 2400)).toBe(400);
    expect(absences.present(0, 3000)).toBe(3000 - 800);
  });

  it('forgets absences that ended before what is still measured', () => {
    const absences = new Absences();
    absences.woke(1000, 2000, 12_000);
    absences.forget(12_000);
    expect(absences.present(500, 13_000)).toBe(12_500);
  });

  it('an absence in the middle of a turn, where no sleep shows it, is found by the next look at the clock', () => {
    const absences = new Absences();
    // Awake from 2000 (a wake-up on time); stopped for 4 s before the turn judged anyone.
    absences.woke(1000, 2000, 2000);
    expect(absences.seen(2010)).toBe(false);
    expect(absences.seen(6010)).toBe(true);
    expect(absences.present(0, 7000)).toBe(7000 - 4000);
    // Ordinary turns are no absence.
    expect(absences.seen(6050)).toBe(false);
  });
});
