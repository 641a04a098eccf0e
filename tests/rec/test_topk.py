"""Exact chunked top-k against a full stable sort (ties: lower index first), seen-item exclusion, padding, and
non-finite vectors or scores rejected with the culprit row named (or masked when asked)."""

import math

import numpy as np
import pytest
import torch

from xlrec_lib.rec import similarity, topk

NAN, INF = float("nan"), float("inf")
SCREENS = ["float32", "bfloat16"]  # both ways on every machine ('auto' picks one of them by the CPU)


def _reference_topk(users, items, k, exclude):
    """Full scores in float64, seen items -inf, a stable sort: equal scores keep the lower item index first."""
    full = users.double() @ items.double().T
    for u, seen in enumerate(exclude):
        full[u, torch.as_tensor(list(seen), dtype=torch.long)] = -math.inf
    scores, ids = torch.sort(full, dim=1, descending=True, stable=True)
    return scores[:, :k], ids[:, :k]


@pytest.fixture
def two_torch_threads():
    """Two torch threads during the test, whatever the process had (make unit runs the tests with one): a restored
    count of 1 would not show that the code restores it."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"group": 1},
        {"group": 8, "workers": 1},
        {"workers": 3, "tile_bytes": 4 * 7 * 256},
        # 7 users per chunk: per user 16,896 bytes of working set and 20,480 of rescoring (see chunk_rows)
        {"workers": 2, "memory_budget": 2 * 7 * (16_896 + 20_480)},
    ],
)
@pytest.mark.parametrize("screen", SCREENS)
def test_topk_matches_full_sort(options, screen, two_torch_threads):
    g = torch.Generator().manual_seed(0)
    users, items = torch.randn(40, 16, generator=g), torch.randn(9000, 16, generator=g)
    rng = np.random.default_rng(0)
    exclude = [rng.choice(9000, size=rng.integers(0, 300), replace=False) for _ in range(40)]
    ref_scores, ref_ids = _reference_topk(users, items, 10, exclude)
    threads = torch.get_num_threads()
    result = topk.topk(users, items, 10, exclude, screen=screen, **options)
    assert torch.get_num_threads() == threads  # restored after the worker threads
    torch.testing.assert_close(result.scores.double(), ref_scores, atol=1e-5, rtol=0)
    assert torch.equal(result.ids, ref_ids)
    # the same exclusions given as (user index, item index) pairs
    pairs = (np.repeat(np.arange(40), [len(e) for e in exclude]), np.concatenate(exclude))
    assert torch.equal(topk.topk(users, items, 10, pairs, screen=screen, **options).ids, ref_ids)


def test_topk_cosine_padding_and_errors():
    users = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    items = torch.tensor([[2.0, 0.0], [1.0, 1.0], [0.0, 3.0], [0.0, 0.0]])
    # user 0 by cosine: item 0 (1), item 1 (0.707), then 2 and 3 (0); user 1 has seen all but item 1
    result = topk.topk(users, items, 2, [[], [0, 2, 3]], metric="cosine")
    assert result.ids.tolist() == [[0, 1], [1, -1]]
    assert result.scores[1, 1] == -math.inf
    assert result.scores[0, 1] == pytest.approx(1 / math.sqrt(2))
    assert topk.topk_to_ranked(result.ids, ["a", "b"], [10, 11, 12, 13]) == {"a": [10, 11], "b": [11]}
    with pytest.raises(ValueError, match="cannot hold one user's"):
        topk.topk(users, items, 2, memory_budget=8)
    with pytest.raises(ValueError, match="item index 4"):
        topk.topk(users, items, 2, [[4], []])
    with pytest.raises(ValueError, match="k must lie"):
        topk.topk(users, items, 5)
    # per user: a tile row of 1024 scores (4096 bytes) + 128 group maxima (512) + 11 best tiles' 32 group maxima
    # (1408) + 10 * 8 candidates of 48 bytes (3840) = 9856 bytes; rescoring 8 * 10 * 8 * 4 = 2560 bytes per user
    grouped = {"width": 1024, "n_groups": 128, "per_tile": 32, "k": 10, "group": 8, "dim": 4}
    assert topk.chunk_rows(**grouped, memory_budget=12_416 * 10 + 12_415) == 10  # fewer rows than one block
    assert topk.chunk_rows(**grouped, memory_budget=2560 * 64 + 9856 * 100 + 9855) == 100  # one block of 64
    # plain way: 1024 scores, the top 11 and their 10-wide copies, a tied row's sort copies (16 bytes per item)
    plain = {"width": 1024, "n_groups": 0, "per_tile": 0, "k": 10, "group": 1, "dim": 4}
    assert topk.chunk_rows(**plain, memory_budget=20_732 * 3 + 20_731) == 3
    with pytest.raises(ValueError, match="workers must be >= 1"):
        topk.topk(users, items, 2, workers=0)


def test_plain_plan_fits_the_memory_budget_with_every_row_tied():
    budget = 2**20
    plan = topk._plan(943, 1682, 64, 10, 32, 2**19, budget, 1)
    assert plan.group == 1 and plan.rows * (20 * 1682 + 24 * 10 + 12) <= budget


def test_a_k_too_large_for_groups_takes_the_plain_way():
    # 9,000 items and k = 1,200: a group would hold one item (9000 // 4800 == 1); the tiles must not be cut short
    gen = torch.Generator().manual_seed(0)
    users, items = torch.randn(5, 8, generator=gen), torch.randn(9000, 8, generator=gen)
    result = topk.topk(users, items, 1200)
    expected_scores, expected_ids = _reference_topk(users, items, 1200, [[] for _ in range(5)])
    torch.testing.assert_close(result.scores.double(), expected_scores, rtol=1e-5, atol=1e-5)
    assert (result.ids == expected_ids).float().mean() > 0.999


@pytest.mark.parametrize("options", [{}, {"workers": 1}, {"group": 4, "workers": 2}, {"group": 1}])
@pytest.mark.parametrize("screen", SCREENS)
def test_ties_rank_the_lower_index_first(options, screen):
    # small integer vectors: scores are exact in float32 and tie often, inside the top k and at its edge
    g = torch.Generator().manual_seed(3)
    users = torch.randint(-2, 3, (70, 3), generator=g).float()
    items = torch.randint(-2, 3, (9000, 3), generator=g).float()  # above PLAIN_BELOW: the group maxima way
    rng = np.random.default_rng(3)
    exclude = [rng.choice(9000, size=rng.integers(0, 50), replace=False) for _ in range(70)]
    ref_scores, ref_ids = _reference_topk(users, items, 7, exclude)
    result = topk.topk(users, items, 7, exclude, screen=screen, **options)
    assert torch.equal(result.ids, ref_ids)
    assert torch.equal(result.scores.double(), ref_scores)
    dense = topk.topk_dense(users @ items.T, 7, exclude)
    assert torch.equal(dense.ids, ref_ids)


@pytest.mark.parametrize("group", [16, 8])
@pytest.mark.parametrize("screen", SCREENS)
def test_a_seen_item_in_a_chosen_group_is_not_returned(group, screen):
    # item 0 (seen) shares a group with the best item, so its group is chosen and its items are rescored from
    # the vectors: the rescoring must drop it again
    plan = topk._plan(1, 9000, 2, 2, group, 2**21, 64 * 2**20, 1, screen == "bfloat16")
    mate = plan.per_tile  # group 0 of tile 0 holds items 0, per_tile, 2 per_tile, ...
    items = torch.zeros(9000, 2)
    items[:, 0] = torch.linspace(-1, 0, 9000)  # every other item scores below 0
    items[0, 0], items[mate, 0] = 0.9, 0.95
    users = torch.tensor([[1.0, 0.0]])
    result = topk.topk(users, items, 2, [[0]], group=group, screen=screen)
    ref_scores, ref_ids = _reference_topk(users, items, 2, [[0]])
    assert result.ids[0, 0] == mate and 0 not in result.ids[0].tolist()
    assert torch.equal(result.ids, ref_ids)


def test_rescored_candidates_agree_with_the_tile_product_within_the_rounding_bound():
    # topk trusts a row unless a group left out comes within 4 gamma |u| max|i| of its k-th score: the bound must
    # cover the difference between the rescoring and the tile's matrix product (each within gamma |u| |i| of exact)
    g = torch.Generator().manual_seed(5)
    dim, n_groups, group = 64, 50, 16
    users = torch.randn(200, dim, generator=g) * 3
    items_grouped = torch.randn(n_groups, group, dim, generator=g)
    chosen = torch.randint(0, n_groups, (200, 10), generator=g)
    rescored = torch.empty(200, 10 * group)
    topk._rescore(users, items_grouped, chosen, rescored)
    product = (users @ items_grouped.reshape(-1, dim).T).view(200, n_groups, group)
    expected = product[torch.arange(200).unsqueeze(1), chosen].reshape(200, -1)
    exact = (users.double() @ items_grouped.reshape(-1, dim).double().T).view(200, n_groups, group)
    exact = exact[torch.arange(200).unsqueeze(1), chosen].reshape(200, -1)
    gamma = dim * 2.0**-24 / (1 - dim * 2.0**-24)
    bound = gamma * users.norm(dim=1, keepdim=True) * items_grouped.norm(dim=2).max()
    assert ((rescored.double() - exact).abs() <= bound).all()
    assert ((expected.double() - exact).abs() <= bound).all()


@pytest.mark.parametrize("swap", [False, True])
def test_a_tie_that_rescoring_rounds_apart_is_recomputed(monkeypatch, swap):
    # items b < a tie exactly (0.5); whichever of their groups torch.topk keeps, if it keeps a's and the rescoring
    # rounds a up (by less than the bound topk allows: 4 gamma_2 |u| max|i| ~ 4.8e-7), the row must still be
    # recomputed in full so that the lower index b wins; both layouts, so that one of them keeps a's group
    s = topk._plan(1, 9000, 2, 1, 16, 2**22, 64 * 2**20, 1).per_tile
    a, b = (7 + s, 2) if swap else (2 + s, 7)  # groups: a's is group 7 or 2, b's is group 2 or 7
    items = torch.tensor([[-1.0, 0.0]]).repeat(9000, 1)
    items[a, 0] = items[b, 0] = 0.5
    real = topk._rescore

    def rounding_up(u, items_grouped, chosen, out):
        real(u, items_grouped, chosen, out)
        out += 2.0**-23

    monkeypatch.setattr(topk, "_rescore", rounding_up)
    assert topk.topk(torch.tensor([[1.0, 0.0]]), items, 1).ids.tolist() == [[b]]


@pytest.mark.parametrize("screen", SCREENS)
def test_the_next_best_group_is_looked_for_in_every_best_tile(screen):
    # two tiles hold a max of 1: k = 1 needs both tiles (k + 1) to see that the runner-up ties the best
    items = torch.tensor([[-1.0, 0.0]]).repeat(9000, 1)
    items[100, 0] = items[8999, 0] = 1.0
    assert topk.topk(torch.tensor([[1.0, 0.0]]), items, 1, screen=screen).ids.tolist() == [[100]]


@pytest.mark.parametrize("n_items, k, group", [(11_524, 200, 16), (20_000, 10, 5), (9_000, 10, 16)])
@pytest.mark.parametrize("screen", SCREENS)
def test_negative_scores_beat_no_padding_and_a_zero_user_gets_the_first_items(n_items, k, group, screen):
    # every score is below 0, so padding columns (0) would win if any escaped the mask; the zero user ties
    # every item at 0 and must get the lowest indices
    g = torch.Generator().manual_seed(7)
    users = torch.cat([torch.rand(3, 8, generator=g) + 0.1, torch.zeros(1, 8)])
    items = -(torch.rand(n_items, 8, generator=g) + 0.1)
    plan = topk._plan(4, n_items, 8, k, group, 2**22, 64 * 2**20, 1, screen == "bfloat16")
    assert plan.group > 1 and plan.n_pad > n_items  # the grouped way, with padding
    result = topk.topk(users, items, k, group=group, screen=screen)
    ref_scores, ref_ids = _reference_topk(users, items, k, [[] for _ in range(4)])
    assert torch.equal(result.ids, ref_ids)
    torch.testing.assert_close(result.scores.double(), ref_scores, atol=1e-5, rtol=0)


def test_popularity_ties_and_padding():
    # one dimension, many equal counts: the order is by count, then by lower index; the -inf slots get id -1
    counts = torch.tensor([[3.0], [5.0], [3.0], [5.0], [1.0], [3.0]])
    result = topk.topk(torch.ones(2, 1), counts, 5, [[], [1, 3, 4]])
    assert result.ids.tolist() == [[1, 3, 0, 2, 5], [0, 2, 5, -1, -1]]
    assert result.scores[1, 3:].tolist() == [-math.inf, -math.inf]


NONFINITE_CASES = {
    "NaN item": (lambda: topk.topk(torch.eye(2), torch.tensor([[1.0, 0.0], [NAN, 0.0]]), 2),
                 r"items row 1 is not finite \(nan at column 0; 1 of 2 rows"),
    "inf item": (lambda: topk.topk(torch.eye(3), torch.tensor([[1.0, 0, 0], [0, 1, 0], [0, 0, -INF]]), 2),
                 r"items row 2 is not finite \(-inf at column 2"),
    "NaN user": (lambda: topk.topk(torch.tensor([[0.0, 1.0], [1.0, NAN]]), torch.eye(2), 1),
                 r"users row 1 is not finite \(nan at column 1"),
    "cosine with a NaN item": (lambda: topk.topk(torch.eye(2), torch.tensor([[NAN, 0.0], [0.0, 1.0]]), 1,
                                                 metric="cosine"),
                               r"items row 0 is not finite \(nan at column 0"),
    "inf score in topk_dense": (lambda: topk.topk_dense(torch.tensor([[0.1, 0.2], [0.3, INF]]), 1),
                                r"scores row 1 \(user\) is not finite: inf at column 1 \(item\)"),
    "NaN score in topk_dense": (lambda: topk.topk_dense(torch.tensor([[NAN, 0.2]]), 1),
                                r"scores row 0 \(user\) is not finite: nan at column 0"),
    "overflowing products": (lambda: topk.topk(torch.full((1, 2), 1e20), torch.full((3, 2), 1e20), 1),
                             r"inner products may overflow torch.float32: users row 0 has norm 1.41e\+20"),
    "unknown nonfinite": (lambda: topk.topk(torch.eye(2), torch.eye(2), 1, nonfinite="drop"),
                          r"nonfinite must be 'raise' or 'mask', got 'drop'"),
    "unknown screen": (lambda: topk.topk(torch.eye(2), torch.eye(2), 1, screen="float16"),
                       r"screen must be 'auto', 'bfloat16' or 'float32', got 'float16'"),
}


@pytest.mark.parametrize("case", list(NONFINITE_CASES))
def test_nonfinite_is_rejected_naming_the_row(case):
    call, message = NONFINITE_CASES[case]
    with pytest.raises(ValueError, match=message) as err:
        call()
    assert type(err.value) is ValueError


def test_nonfinite_mask_drops_items_and_empties_users():
    users = torch.tensor([[1.0, 0.0], [NAN, 1.0], [0.0, 1.0]])
    # item 2 is long: user 0 prefers it by dot (2.0 against 0.9), item 3 by cosine (0.99 against 0.55)
    items = torch.tensor([[0.5, 0.0], [INF, 0.0], [2.0, 3.0], [0.9, 0.1]])
    for metric in ("dot", "cosine"):
        result = topk.topk(users, items, 3, [[0], [], [3]], metric=metric, nonfinite="mask")
        # item 1 never appears; user 1 gets no list; seen items stay excluded after the re-indexing
        assert result.ids[1].tolist() == [-1, -1, -1]
        assert result.ids[0].tolist() == ([2, 3, -1] if metric == "dot" else [3, 2, -1])
        assert result.ids[2].tolist() == [2, 0, -1]
        assert not torch.isnan(result.scores).any()
    dense = topk.topk_dense(torch.tensor([[0.1, NAN, 0.3], [INF, 0.2, 0.0]]), 2, nonfinite="mask")
    assert dense.ids.tolist() == [[2, 0], [1, 2]]


def test_seen_csr():
    indptr, indices = topk.seen_csr(([2, 0, 2, 0], [5, 1, 3, 1]), n_users=3, n_items=6)
    assert indptr.tolist() == [0, 2, 2, 4]
    assert indices.tolist() == [1, 1, 3, 5]
    # per-user form: a list of collections (sets, arrays, tensors, empty ones)
    indptr, indices = topk.seen_csr([{4, 0}, np.array([], dtype=int), torch.tensor([5])], n_users=3, n_items=6)
    assert indptr.tolist() == [0, 2, 2, 3] and indices.tolist() == [0, 4, 5]
    # integer kinds that NumPy would promote to float together stay integers, user by user
    assert topk.seen_csr([[np.uint64(3)], [1]], 2, 5)[1].tolist() == [3, 1]
    with pytest.raises(ValueError, match=r"\(a tuple of two 1-D arrays is read as \(user, item\) pairs"):
        topk.seen_csr(([], [3]), 2, 5)
    # a tuple of two 1-D arrays is pairs, even where two users' lists would fit: (0, 2) and (1, 3)
    assert topk.topk_dense(torch.tensor([[5.0, 4, 3, 2], [5, 4, 3, 2]]), 2, ([0, 1], [2, 3])).ids.tolist() == [
        [0, 1], [0, 1]]
    assert topk.topk_dense(torch.tensor([[5.0, 4, 3, 2], [5, 4, 3, 2]]), 2, [[0, 1], [2, 3]]).ids.tolist() == [
        [2, 3], [0, 1]]


@pytest.mark.parametrize("exclude", [(np.array([0]), np.array([0.6])), [[0.5], [1]], [[True], []],
                                     (np.array([0.0]), np.array([1]))])
def test_seen_csr_refuses_indices_that_are_no_integers(exclude):
    with pytest.raises(ValueError, match="indices must be integers"):
        topk.seen_csr(exclude, n_users=2, n_items=4)


@pytest.mark.parametrize("exclude, message", [
    ({0: [1], 1: [2]}, "exclude is a dict; pass a list"),  # iterated, its keys 0 and 1 would be excluded
    ([3, [1]], r"exclude\[0\] is 3, a single value"),
    ([[1], np.int64(2)], r"exclude\[1\] is np.int64\(2\), a single value"),
    ([torch.tensor(1), []], r"exclude\[0\] is tensor\(1\), a single value"),
])
def test_seen_csr_refuses_a_mapping_or_a_bare_index_per_user(exclude, message):
    with pytest.raises(ValueError, match=message):
        topk.seen_csr(exclude, n_users=2, n_items=4)


@pytest.mark.parametrize("k", [2.0, True, 0])
def test_k_must_be_a_positive_integer(k):
    with pytest.raises(ValueError, match="k must be a positive integer"):
        topk.topk_dense(torch.rand(2, 4), k)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        topk.topk(torch.rand(2, 3), torch.rand(4, 3), k)


def test_topk_dense_and_item_bias():
    scores = torch.tensor([[0.1, 0.9, 0.5], [0.3, 0.2, 0.1]])
    result = topk.topk_dense(scores, 2, [[1], [0, 1]])
    assert result.ids.tolist() == [[2, 0], [2, -1]]
    users, items = torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    u, i = topk.with_item_bias(users, items, [0.0, 3.0], alpha=0.5)
    # u.i + 0.5 * bias: item 0 -> 1 + 0 = 1, item 1 -> 0 + 1.5 = 1.5
    torch.testing.assert_close(similarity.dot(u, i), torch.tensor([[1.0, 1.5]]))
    with pytest.raises(ValueError, match="3 values for 2 items"):
        topk.with_item_bias(users, items, [1, 2, 3], 1.0)
    with pytest.raises(ValueError, match=r"bias\[1\] is nan"):
        topk.with_item_bias(users, items, [1.0, float("nan")], 1.0)
    for alpha in (float("inf"), True, "1"):
        with pytest.raises(ValueError, match="alpha must be a finite number"):
            topk.with_item_bias(users, items, [1.0, 2.0], alpha)


def test_topk_to_ranked_threshold_and_seed_loop():
    ids = torch.tensor([[2, 0, -1], [1, 2, 0]])
    scores = torch.tensor([[0.9, 0.4, -math.inf], [0.8, 0.7, 0.1]])
    assert topk.topk_to_ranked(ids, scores=scores, min_score=0.5) == {0: [2], 1: [1, 2]}
    assert topk.topk_to_ranked(ids) == {0: [2, 0], 1: [1, 2, 0]}
    # the seed's Python loop ranks like cosine top-k (sigmoid is monotone)
    g = torch.Generator().manual_seed(1)
    users, items = torch.randn(5, 6, generator=g), torch.randn(30, 6, generator=g)
    expected = topk.topk(users, items, 4, metric="cosine").ids.tolist()
    assert topk.seed_topk_loop(users.tolist(), items.tolist(), 4) == expected


@pytest.mark.parametrize("workers", [1, 3])
def test_run_workers_drains_the_chunks_and_restores_torch_threads(workers, two_torch_threads):
    before = torch.get_num_threads()
    take, done, seen_threads = topk.chunk_starts(500, 10), [], set()

    def work():
        while (start := take()) is not None:
            seen_threads.add(torch.get_num_threads())
            done.append(start)

    topk.run_workers(work, workers)
    assert sorted(done) == list(range(0, 500, 10)) and torch.get_num_threads() == before
    assert seen_threads == ({before} if workers == 1 else {1})


BF16_CASES = {
    "unit vectors, 64 dims": lambda g: (torch.randn(300, 64, generator=g), torch.randn(2000, 64, generator=g)),
    # all terms positive: a bfloat16 accumulator would drift by far more than the bound over 1,024 of them
    "positive, 1,024 dims": lambda g: (torch.rand(50, 1024, generator=g), torch.rand(500, 1024, generator=g)),
    "norms from 1e-3 to 1e3": lambda g: (torch.randn(200, 32, generator=g) * torch.logspace(-3, 3, 200).unsqueeze(1),
                                        torch.randn(800, 32, generator=g) * torch.logspace(3, -3, 800).unsqueeze(1)),
}


@pytest.mark.parametrize("case", list(BF16_CASES))
def test_screen_bound_covers_a_bfloat16_tile(case):
    # what the screening trusts: a bfloat16 product s~ of the rounded vectors lies within screen_bound of the exact
    # u.i, beyond its own final rounding (r |s~| / (1 - r))
    users, items = BF16_CASES[case](torch.Generator().manual_seed(11))
    screened = (users.bfloat16() @ items.bfloat16().T).double()
    exact = users.double() @ items.double().T
    bound = topk.screen_bound(users.double().norm(dim=1), items.double().norm(dim=1).max(), users.shape[1])
    r = topk.BF16_ROUNDING
    error = (exact - screened).abs() - screened.abs() * r / (1 - r)  # beyond the sum's own rounding
    assert (error <= bound.unsqueeze(1)).all()
    if case.startswith("positive"):  # the check can fail: sums kept in bfloat16 as they go break the bound
        terms = users[:5].bfloat16().unsqueeze(1) * items.bfloat16().unsqueeze(0)  # (5, 500, 1024)
        running = terms[..., 0]
        for j in range(1, terms.shape[2]):
            running = running + terms[..., j]  # bfloat16 + bfloat16 -> bfloat16
        drift = (exact[:5] - running.double()).abs() - running.double().abs() * r / (1 - r)
        assert (drift > bound[:5].unsqueeze(1)).any()


def test_the_int16_max_of_bfloat16_bits():
    # a group's int16 max >= 0 is its true max; < 0 means every score of the group is <= 0
    values = torch.tensor([[0.5, -3.0, 0.25, -0.0], [-1.0, -2.0, -math.inf, -0.5], [0.0, -0.0, -1.0, -math.inf],
                           [-math.inf, -math.inf, -math.inf, -math.inf], [3.0e38, 1e-40, -3.0e38, 2.0]])
    bits = values.bfloat16().view(torch.int16).amax(dim=1)
    true_max = values.bfloat16().float().amax(dim=1)
    positive = bits >= 0
    assert positive.tolist() == [True, False, True, False, True]
    torch.testing.assert_close(bits[positive].view(torch.bfloat16).float(), true_max[positive], rtol=0, atol=0)
    assert (true_max[~positive] <= 0).all()


@pytest.mark.parametrize("workers", [1, 2])
def test_near_ties_finer_than_bfloat16_are_recomputed_exactly(workers):
    # 9,000 scores 0.5 + i * 1e-7 (distinct in float32, a few values in bfloat16): the screening cannot tell the
    # best from hundreds of others, so every row must be recomputed from float32 products, best = highest index
    items = torch.stack([0.5 + torch.arange(9000, dtype=torch.float64) * 1e-7, torch.zeros(9000)], 1).float()
    users = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.5, 0.0]])
    result = topk.topk(users, items, 5, [[8999], [], []], screen="bfloat16", workers=workers)
    ref_scores, ref_ids = _reference_topk(users, items, 5, [[8999], [], []])
    assert torch.equal(result.ids, ref_ids)
    assert result.ids[0].tolist() == [8998, 8997, 8996, 8995, 8994]


def test_fast_bfloat16_is_false_off_the_cpu():
    assert topk.fast_bfloat16(torch.device("meta")) is False
    assert isinstance(topk.fast_bfloat16(torch.device("cpu")), bool)


def _recomputed_rows(monkeypatch):
    """Spy on topk's full recomputation: a list that gets each call's number of rows."""
    calls, real = [], topk._exact_rows

    def spy(u, items, k, rows, *rest):
        calls.append(len(rows))
        return real(u, items, k, rows, *rest)

    monkeypatch.setattr(topk, "_exact_rows", spy)
    return calls


def test_screening_recomputes_few_rows_on_random_vectors(monkeypatch):
    # the bound is wide, but 2k groups leave few rows ambiguous; with k groups (or the chosen k-th group's max taken
    # as the next one) nearly every row would be recomputed
    g = torch.Generator().manual_seed(2)
    users = torch.nn.functional.normalize(torch.randn(400, 64, generator=g), dim=1)
    items = torch.nn.functional.normalize(torch.randn(30_000, 64, generator=g), dim=1)
    calls = _recomputed_rows(monkeypatch)
    screened = topk.topk(users, items, 10, screen="bfloat16")
    assert sum(calls) < 0.05 * len(users)
    assert torch.equal(screened.ids, topk.topk(users, items, 10, screen="float32").ids)


def test_a_best_item_the_screening_ranks_low_is_found():
    # u = (1 + a, 1 + a) and item 100 = (1 + a, -(1 - b)) round to (1, 1) and (1, -1) in bfloat16: screened 0, true
    # about 0.0058; items 200 and 300 screen at 2**-7 but are worth only about 0.0043. Their two groups are the ones
    # rescored (k = 1: 2 groups), so only the bound (about 0.0158 here) can send the row to its recomputation:
    # without it, or at a quarter of it, item 200 would be returned
    a, b = 0.99 * 2**-8, 0.99 * 2**-9
    users = torch.full((1, 2), 1 + a)
    items = torch.tensor([[0.0, -1.0]]).repeat(9000, 1)
    items[100] = torch.tensor([1 + a, -(1 - b)])
    items[200] = items[300] = torch.tensor([1 + 2**-7, -1.0035])
    assert topk.topk(users, items, 1, screen="bfloat16").ids.tolist() == [[100]]
    full = users.double() @ items.double().T
    assert full[0].argmax() == 100


@pytest.mark.parametrize("scale", [1e-19, 1e-20, 1e-25])
def test_tiny_vectors_whose_bfloat16_products_flush_to_zero(scale):
    # products below 2**-126 come out 0 from bfloat16 hardware: the bound must cover them (rows recomputed)
    g = torch.Generator().manual_seed(4)
    users, items = torch.randn(64, 64, generator=g) * scale, torch.randn(20_000, 64, generator=g) * scale
    screened = topk.topk(users, items, 10, screen="bfloat16")
    assert torch.equal(screened.ids, topk.topk(users, items, 10, screen="float32").ids)


def test_components_too_large_for_bfloat16_are_not_screened():
    # 3.4e38 rounds to inf in bfloat16, and inf * 0 is NaN in a tile: such vectors take float32 tiles
    users = torch.zeros(64, 2)
    users[:, 0] = 0.3
    items = torch.zeros(9000, 2)
    items[0, 0] = items[1, 0] = 1e38
    items[4321] = torch.tensor([3.4e38, -3.4e38])  # float32 score 1.02e38, the best
    assert (topk.topk(users, items, 1, screen="bfloat16").ids == 4321).all()


def test_when_topk_screens(monkeypatch):
    # 'auto' follows the hardware; groups of one item or a plain catalogue are never screened
    seen = []
    real = topk._chunk_topk

    def spy(u, u_tile, *rest):
        seen.append(u_tile.dtype)
        return real(u, u_tile, *rest)

    monkeypatch.setattr(topk, "_chunk_topk", spy)
    g = torch.Generator().manual_seed(6)
    users, items = torch.randn(8, 8, generator=g), torch.randn(9000, 8, generator=g)
    for fast, expected in ((True, torch.bfloat16), (False, torch.float32)):
        monkeypatch.setattr(topk, "fast_bfloat16", lambda device, fast=fast: fast)
        seen.clear()
        topk.topk(users, items, 10)
        assert set(seen) == {expected}
    # k = 700 of 9,000: groups for k (9000 // 2800 = 3 items) but not for 2k (9000 // 5600 = 1): float32 tiles
    seen.clear()
    result = topk.topk(users, items, 700, screen="bfloat16")
    assert set(seen) == {torch.float32}
    ref_scores, ref_ids = _reference_topk(users, items, 700, [[] for _ in range(8)])
    assert (result.ids == ref_ids).float().mean() > 0.999
    seen.clear()
    topk.topk(users, items[:5000], 10, screen="bfloat16")  # under PLAIN_BELOW
    assert set(seen) == {torch.float32}
    # topk.screens says the same without running the search
    assert topk.screens(users, items, 10, "bfloat16") and not topk.screens(users, items, 10, "float32")
    assert not topk.screens(users, items, 700, "bfloat16") and not topk.screens(users, items[:5000], 10, "bfloat16")
    assert not topk.screens(users, items * 1e38, 10, "bfloat16")


def test_topk_to_ranked_refuses_a_repeated_user_id():
    with pytest.raises(ValueError, match="user id 'a' appears more than once"):
        topk.topk_to_ranked(torch.tensor([[0], [1]]), ["a", "a"], [10, 11])
