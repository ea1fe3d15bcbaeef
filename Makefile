# Build targets for `sam build` (BuildMethod: makefile). Each copies one binary to
# $(ARTIFACTS_DIR)/bootstrap, the handler of the provided.al2023 runtime. No Docker needed.
#
# The target follows template.yaml's Globals `Architectures` (x86_64 -> x86_64-unknown-linux-gnu,
# arm64 -> aarch64-unknown-linux-gnu) and is always passed to cargo explicitly, so a build on
# another kind of machine never packages a binary Lambda cannot run; each binary's ELF machine is
# checked before it is packaged. Override with RUST_TARGET=... (then set Architectures to match).
# CARGO_PROFILE=dev gives quick unoptimised builds (CI uses it to test the packaging).
# Each function is built alone (`-p`), so it links only the AWS clients its features name.
CARGO ?= cargo
TARGET_DIR ?= target
CARGO_PROFILE ?= release
TEMPLATE_ARCH := $(shell sed -n 's/^ *Architectures: *\[ *\([a-z0-9_]*\) *\].*/\1/p' template.yaml | head -n 1)

ifeq ($(TEMPLATE_ARCH),arm64)
RUST_TARGET ?= aarch64-unknown-linux-gnu
else
RUST_TARGET ?= x86_64-unknown-linux-gnu
endif

# The ELF e_machine the template's architecture needs, as two little-endian bytes:
# EM_X86_64 = 62, EM_AARCH64 = 183.
ifeq ($(TEMPLATE_ARCH),arm64)
ELF_MACHINE = b700
ELF_NAME = aarch64 (arm64)
else
ELF_MACHINE = 3e00
ELF_NAME = x86_64
endif

ifeq ($(CARGO_PROFILE),dev)
PROFILE_DIR = debug
else
PROFILE_DIR = $(CARGO_PROFILE)
endif
BIN_DIR = $(TARGET_DIR)/$(RUST_TARGET)/$(PROFILE_DIR)

define lambda
build-$(1):
	$(CARGO) build --profile $(CARGO_PROFILE) --locked --target $(RUST_TARGET) -p keygate-fn-$(2) --bin $(2)
	@m=$$$$(od -An -tx1 -j18 -N2 $(BIN_DIR)/$(2) | tr -d ' \n'); \
	if [ "$$$$m" != "$(ELF_MACHINE)" ]; then \
	  echo "error: $(BIN_DIR)/$(2) is not an $(ELF_NAME) binary (ELF machine $$$$m): Lambda would fail to start it. template.yaml's Architectures is $(TEMPLATE_ARCH); RUST_TARGET is $(RUST_TARGET)." >&2; \
	  exit 1; \
	fi
	cp $(BIN_DIR)/$(2) $(ARTIFACTS_DIR)/bootstrap
endef

$(eval $(call lambda,AuthenticateFunction,authenticate))
$(eval $(call lambda,RefreshFunction,refresh))
$(eval $(call lambda,RevokeFunction,revoke))
$(eval $(call lambda,JwksFunction,jwks))
$(eval $(call lambda,ForgotPasswordRequestFunction,forgot-password-request))
$(eval $(call lambda,RegisterFunction,register))
$(eval $(call lambda,ShareFunction,share))
$(eval $(call lambda,ForgotPasswordConfirmFunction,forgot-password-confirm))
$(eval $(call lambda,AdminFunction,admin))
$(eval $(call lambda,AuthorizerFunction,authorizer))
$(eval $(call lambda,RotateSigningKeyFunction,rotate-signing-key))
