#!/usr/bin/env bash
# Check the patch series in upstream/patches against deepinv 0.5.0's source distribution.
#
# Downloads the sdist from PyPI (the only network it needs), applies the patches in order with
# `git am`, installs the patched tree into a new virtual environment, and runs deepinv's own tests
# of the touched modules, the new tests, the doctests of the touched modules, black and ruff on the
# touched files, a bit-for-bit cross-check against this plugin's hook, the feature-removal checks
# (each new test must fail when its patch's feature is taken out) and the gallery example.
# Prints one line per step; exits non-zero if any step fails. See upstream/README.md.
#
# Environment: PYTHON (default python3), TORCH_SPEC (default "torch==2.14.1 torchvision==0.29.1"),
# UPSTREAM_CHECK_DIR (work folder, default a new temporary one, kept after the run),
# UPSTREAM_SKIP_EXAMPLE=1 (skip running the gallery example, the slowest step).
set -u
HERE="$(cd "$(dirname "$0")" && pwd)"
PY="${PYTHON:-python3}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.14.1 torchvision==0.29.1}"
WORK="${UPSTREAM_CHECK_DIR:-$(mktemp -d -t deepinv-upstream-XXXXXX)}"
SDIST_SHA256=147ebc0691e1b6132ffa159e65790b5eec532ed26ae2dc5e45f5a65d964287ff
TREE="$WORK/deepinv-0.5.0"
VENV="$WORK/venv"
LOGS="$WORK/logs"
mkdir -p "$LOGS"
export DEEPINV_TEST_DEVICE=cpu MPLBACKEND=Agg PIP_DISABLE_PIP_VERSION_CHECK=1
GIT=(git -c user.name=upstream-check -c user.email=upstream-check@example.invalid -c safe.directory='*')
failures=0
n=0

step() {  # step NAME COMMAND...: run, print one line, keep the log
    local name="$1"
    shift
    n=$((n + 1))
    local log
    log="$LOGS/$(printf '%02d' "$n")-$(echo "$name" | tr -c 'A-Za-z0-9' '_' | cut -c1-50).log"
    local start=$SECONDS
    if (cd "$TREE" 2>/dev/null || cd "$WORK"; "$@") >"$log" 2>&1; then
        echo "ok    $name ($((SECONDS - start)) s) $(summary "$log")"
    else
        echo "FAIL  $name ($((SECONDS - start)) s) $(summary "$log") -- log: $log"
        tail -n 15 "$log" | sed 's/^/      | /'
        failures=$((failures + 1))
    fi
}

summary() {  # the closing line of a pytest run, if any
    grep -E '^(=+ )?[0-9]+ (passed|failed|error)' "$1" | tail -n 1 | sed 's/=//g; s/^ *//; s/ *$//' || true
}

expect_fail() {  # expect_fail FILE SED-EXPR TESTS...: the tests must fail with the feature removed
    local file="$1" expr="$2"
    shift 2
    sed -i -e "$expr" "$file" || return 2
    if cmp -s "$file" <("${GIT[@]}" show "HEAD:$file"); then
        echo "the edit changed nothing in $file"
        return 2
    fi
    "$VENV/bin/python" -m pytest -q -p no:cacheprovider "$@"
    local rc=$?
    "${GIT[@]}" checkout -- "$file"
    if [ "$rc" -eq 1 ]; then
        echo "as expected, the tests fail without the feature"
        return 0
    fi
    echo "expected failing tests (pytest exit 1), got exit $rc"
    return 1
}

echo "deepinv 0.5.0 patch series check, work folder $WORK"

# -- the source distribution and the series ----------------------------------------------------
step "download deepinv 0.5.0 sdist" \
    "$PY" -m pip download --no-deps --no-binary :all: deepinv==0.5.0 -d "$WORK/sdist"
step "sdist checksum" \
    bash -c "echo '$SDIST_SHA256  $WORK/sdist/deepinv-0.5.0.tar.gz' | sha256sum -c -"
step "extract and commit the pristine tree" bash -c "
    rm -rf '$TREE' && tar --no-same-owner -xzf '$WORK/sdist/deepinv-0.5.0.tar.gz' -C '$WORK' &&
    cd '$TREE' && ${GIT[*]} init -q && ${GIT[*]} add -A && ${GIT[*]} commit -qm 'deepinv 0.5.0'"
for patch in "$HERE"/patches/0*.patch; do
    step "git am $(basename "$patch")" "${GIT[@]}" am -q "$patch"
done
step "series applied (5 commits on 0.5.0)" bash -c "test \$(${GIT[*]} rev-list --count HEAD) -eq 6"

# -- environment --------------------------------------------------------------------------------
step "virtual environment" "$PY" -m venv "$VENV"
# shellcheck disable=SC2086
step "install $TORCH_SPEC" "$VENV/bin/pip" install -q $TORCH_SPEC
step "install the patched tree [test], ptwt, black, ruff" \
    "$VENV/bin/pip" install -q -e "$TREE[test]" ptwt PyWavelets black ruff
step "patched deepinv imports from the tree" "$VENV/bin/python" -c "
import deepinv, pathlib
assert pathlib.Path(deepinv.__file__).resolve().is_relative_to(pathlib.Path('$TREE').resolve())
print(deepinv.__version__, deepinv.__file__)
from deepinv.optim import JitterConfig, jitter_noise
from deepinv.training import MeasurementNoise, MeasurementAttack, pgd_attack
from deepinv.physics import SeismicDeconvolution
from deepinv.physics.functional import ricker"

PYTEST=("$VENV/bin/python" -m pytest -q -p no:cacheprovider -W ignore::DeprecationWarning)

# -- deepinv's own tests of the touched modules ---------------------------------------------------
# What is left out and why: upstream/README.md, "What check.sh runs".
step "deepinv tests: test_unfolded.py (all)" "${PYTEST[@]}" deepinv/tests/test_unfolded.py
step "deepinv tests: test_optim.py (algorithms, iterators, priors)" "${PYTEST[@]}" \
    deepinv/tests/test_optim.py -k "optim_algo or pnp_algo or priors_algo or red_algo or CP_K or CP_datafidsplit or backtracking or dpir or datafid_stacking or patch_prior or MLEM or sirt"
step "deepinv tests: test_trainer.py (all)" "${PYTEST[@]}" deepinv/tests/test_trainer.py
step "deepinv tests: test_physics.py (blur family, seismic, operator lists)" "${PYTEST[@]}" \
    deepinv/tests/test_physics.py -k "deblur or seismic or ricker or Blur or blur"

# -- the new tests, by name -------------------------------------------------------------------------
step "new tests 0001 (iterate noise)" "${PYTEST[@]}" deepinv/tests/test_unfolded.py -k jitter
step "new tests 0002 (perturbations, resume)" "${PYTEST[@]}" deepinv/tests/test_trainer.py \
    -k "measurement_perturbation or pgd_attack or measurement_attack or resumed"
step "new tests 0003 (evaluation losses, #1096)" "${PYTEST[@]}" deepinv/tests/test_trainer.py \
    -k "eval_losses or loss_logging or model_forward_passes"
step "new tests 0004 (seismic, ricker)" "${PYTEST[@]}" deepinv/tests/test_physics.py -k "seismic or ricker"

# -- doctests of the touched modules --------------------------------------------------------------
# TiledSpaceVaryingBlur's doctest (not touched) downloads an image: deselected.
step "doctests of the touched modules" "${PYTEST[@]}" --doctest-modules \
    deepinv/optim/jitter.py deepinv/optim/optim_iterators deepinv/optim/optimizers.py \
    deepinv/training/perturbations.py deepinv/training/trainer.py \
    deepinv/physics/blur.py deepinv/physics/functional/blur.py \
    --deselect deepinv/physics/blur.py::deepinv.physics.blur.TiledSpaceVaryingBlur

# -- formatting and lint of the touched files -----------------------------------------------------
touched() { "${GIT[@]}" diff --name-only --diff-filter=AM HEAD~5 HEAD -- '*.py'; }
black_check() { "$VENV/bin/black" --check $(touched); }
ruff_check() { "$VENV/bin/ruff" check $(touched); }
step "black --check (touched files)" black_check
step "ruff check (touched files, deepinv's config)" ruff_check
footcite_keys() {  # every :footcite: key the series adds has a refs.bib entry in docs_additions.md
    local keys key missing=0
    keys=$("${GIT[@]}" diff HEAD~5 HEAD | grep '^+' | grep -o ':footcite:[a-z]*:`[^`]*`' | sed 's/.*`\(.*\)`/\1/' | sort -u)
    for key in $keys; do
        if grep -q "@inproceedings{$key,\|@article{$key," "$HERE/docs_additions.md"; then
            echo "$key: entry found"
        else
            echo "$key: no refs.bib entry in docs_additions.md"
            missing=1
        fi
    done
    [ -n "$keys" ] && [ "$missing" -eq 0 ]
}
step "footcite keys of the series have refs.bib entries" footcite_keys

# -- the hook against the plugin's, bit for bit ---------------------------------------------------
step "install this plugin (no deps) for the cross-check" "$VENV/bin/pip" install -q --no-deps -e "$HERE/.."
step "cross-check with the plugin's hook (bit for bit)" "$VENV/bin/python" "$HERE/crosscheck_plugin.py"

# -- each new test fails with its patch's feature removed -----------------------------------------
T=deepinv/tests
step "without 0001's noise (jitter_on always False): its tests fail" expect_fail \
    deepinv/optim/optim_iterators/optim_iterator.py \
    's/return self.training and self.jitter is not None and self.jitter.sigma > 0/return False/' \
    $T/test_unfolded.py -k "jitter_off_is_bit_identical or jitter_placement or jitter_DEQ"
step "0001's rule with a batch-wide maximum: the Monte-Carlo test fails" expect_fail \
    deepinv/optim/jitter.py 's/\.amax(dim=1)/.amax(dim=1).amax().expand(u.shape[0])/' \
    $T/test_unfolded.py -k jitter_noise_std
step "0001's noise after the prior step (PGD): the placement test fails" expect_fail \
    deepinv/optim/optim_iterators/optim_iterator.py \
    '/z = self.jitter_step(z, cur_params)/d; s/x = self.g_step(z, cur_prior, cur_params, \*args, \*\*kwargs)/x = self.jitter_step(self.g_step(z, cur_prior, cur_params, *args, **kwargs), cur_params)/' \
    $T/test_unfolded.py -k "jitter_placement and PGD-False"
step "without 0002's perturbation hook: its tests fail" expect_fail \
    deepinv/training/trainer.py 's/            y = self.perturb_measurement(x, y, physics)/            pass/' \
    $T/test_trainer.py -k "measurement_perturbation or measurement_attack_training"
step "without 0002's random-state restore: the resume test fails" expect_fail \
    deepinv/training/trainer.py 's/            self.set_random_state(checkpoint\["random_state"\])/            pass/' \
    $T/test_trainer.py -k resumed
step "0003 reverted (eval losses as in 0.5.0): its tests fail" expect_fail \
    deepinv/training/trainer.py 's/x_net = self.eval_loss_inference(y=y, physics=physics, x=x)/x_net = self.model_inference(y=y, physics=physics, x=x, train=True)/' \
    $T/test_trainer.py -k "eval_losses"
step "0004 without the zero tap for even wavelets: the numpy test fails" expect_fail \
    deepinv/physics/blur.py 's/        if wavelet.numel() % 2 == 0:/        if False:/' \
    $T/test_physics.py -k "test_seismic_deconvolution"

# -- the gallery example ------------------------------------------------------------------------
if [ "${UPSTREAM_SKIP_EXAMPLE:-0}" != 1 ]; then
    step "gallery example examples/unfolded/demo_sgd_jittering.py" \
        "$VENV/bin/python" examples/unfolded/demo_sgd_jittering.py
    grep -h -E 'PSNR' "$LOGS"/*gallery_example*.log 2>/dev/null | sed 's/^/      /'
else
    echo "skip  gallery example (UPSTREAM_SKIP_EXAMPLE=1)"
fi

echo "$n steps, $failures failed; logs in $LOGS"
[ "$failures" -eq 0 ]
